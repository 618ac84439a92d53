// Loads every walker module in WALKERS_DIR into the registry at startup (any problem stops
// startup naming the file), and in dev mode watches the directory and re-imports a changed file,
// so the next message runs the new code without a restart and without dropping a socket.
import { existsSync, watch, type FSWatcher } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isWalker, toWalker, WalkerDefinitionError, type Walker, type WalkerLogger } from './define.ts'
import { WalkerLoadError, type WalkerRegistry } from './registry.ts'

/** The shipped examples, next to this file in src/ and in dist/ alike. */
export const EXAMPLES_DIR = fileURLToPath(new URL('./examples/', import.meta.url))

const MODULE = /\.(?:[cm]?ts|[cm]?js)$/
/** Dotfiles, `_helpers.ts`, type declarations and tests live beside walkers without being one. */
const NOT_A_WALKER = /^[._]|\.d\.[cm]?ts$|\.(?:test|spec)\.[cm]?[jt]s$/

/** Editors save in bursts (truncate, write, rename); one reload per burst. */
const RELOAD_DEBOUNCE_MS = 50

export function isWalkerFile(name: string): boolean {
  return MODULE.test(name) && !NOT_A_WALKER.test(name)
}

/** A module's walkers: every export made with defineWalker, and the default export in any case. */
export function walkersOf(mod: Record<string, unknown>): Walker[] {
  const found = new Set<Walker>()
  for (const [key, value] of Object.entries(mod)) {
    if (isWalker(value)) found.add(value)
    else if (key === 'default') found.add(toWalker(value))
  }
  if (found.size === 0) throw new WalkerDefinitionError('exports no walker (export default defineWalker({ … }))')
  return [...found]
}

const requireCache = createRequire(import.meta.url).cache

async function importWalkers(file: string, version?: number): Promise<Walker[]> {
  // ESM caches by URL, so a new query string is a fresh evaluation of the changed file. A file
  // the TypeScript loader compiled as CommonJS is cached by path instead: drop that entry too.
  if (version !== undefined) delete requireCache[file]
  const url = pathToFileURL(file).href + (version === undefined ? '' : `?v=${version}`)
  try {
    return walkersOf(await import(url) as Record<string, unknown>)
  } catch (err) {
    const message = err instanceof WalkerDefinitionError ? err.message : `cannot import: ${(err as Error).message}`
    throw new WalkerLoadError(file, message, { cause: err })
  }
}

/** Read every walker module in `dir` (sorted, not recursive) into `registry`. Throws WalkerLoadError. */
export async function loadWalkerDir(dir: string, registry: WalkerRegistry): Promise<void> {
  let names: string[]
  try {
    const entries = await readdir(dir, { withFileTypes: true })
    names = entries.filter((e) => !e.isDirectory() && isWalkerFile(e.name)).map((e) => e.name).sort()
  } catch (err) {
    throw new WalkerLoadError(dir, `cannot read the walkers directory (WALKERS_DIR): ${(err as Error).message}`, { cause: err })
  }
  for (const name of names) {
    const file = join(dir, name)
    registry.setFile(file, await importWalkers(file))
  }
}

/**
 * Dev mode: watch `dir` and re-import what changes. A file that fails to load (syntax error,
 * bad definition, a name clash) is logged and the version before it keeps serving; a file that
 * is deleted takes its walkers with it. Modules a walker imports are not watched.
 */
export class WalkerHotReload {
  private watcher: FSWatcher | undefined
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private version = 0
  /** Reloads apply one at a time, in the order the files settled. */
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly dir: string, private readonly registry: WalkerRegistry, private readonly log: WalkerLogger) {}

  start(): void {
    this.watcher = watch(this.dir, { persistent: false }, (_event, filename) => {
      if (filename && isWalkerFile(filename)) this.schedule(join(this.dir, filename))
    })
    this.watcher.on('error', (err) => this.log.error({ err }, 'walker directory watch failed; hot reload stopped'))
    this.log.info({ dir: this.dir }, 'walker hot reload on')
  }

  close(): void {
    this.watcher?.close()
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }

  private schedule(file: string): void {
    clearTimeout(this.timers.get(file))
    const timer = setTimeout(() => {
      this.timers.delete(file)
      this.queue = this.queue.then(() => this.reload(file))
    }, RELOAD_DEBOUNCE_MS)
    timer.unref()
    this.timers.set(file, timer)
  }

  private async reload(file: string): Promise<void> {
    if (!existsSync(file)) {
      const removed = this.registry.removeFile(file)
      if (removed.length > 0) this.log.info({ file, walkers: removed }, 'walker file deleted; its walkers are gone')
      return
    }
    try {
      const { added, removed } = this.registry.setFile(file, await importWalkers(file, ++this.version))
      this.log.info({ file, walkers: added, removed }, 'walkers reloaded')
    } catch (err) {
      this.log.error({ err, file }, 'walker reload failed; the previous version keeps serving')
    }
  }
}
