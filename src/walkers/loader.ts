// Loads every walker module in WALKERS_DIR into the registry at startup (any problem stops
// startup naming the file), and in dev mode watches the directory and re-imports a changed file,
// so the next message runs the new code without a restart and without dropping a socket.
import { existsSync, watch, type FSWatcher } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isWalker, toWalker, WalkerDefinitionError, type Walker, type WalkerLogger } from './define.ts'
import { WalkerLoadError, WalkerNameClashError, type WalkerRegistry } from './registry.ts'

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

/** An import still unsettled after this long is logged once (a top-level await that never settles?). */
const STUCK_IMPORT_MS = 10_000

export interface HotReloadOptions {
  /** After how long a file's import that has not settled is logged (STUCK_IMPORT_MS). */
  stuckAfterMs?: number
}

/**
 * Dev mode: watch `dir` and re-import what changes. A file that fails to load (syntax error,
 * bad definition, a name clash) is logged and the version before it keeps serving; a file that
 * is deleted takes its walkers with it. Modules a walker imports are not watched.
 *
 * Each file's latest change wins: its import runs beside other files' (one file whose import
 * never settles holds up only itself), and an import that settles after a newer change to the
 * same file is dropped. A file refused for a name another file holds is tried again when any
 * walker goes away, so moving a walker to another file and deleting the old one serves it.
 */
export class WalkerHotReload {
  private watcher: FSWatcher | undefined
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private version = 0
  /** Each file's latest reload: an older one that settles after it is stale. */
  private readonly latest = new Map<string, number>()
  /** Files whose latest reload was refused for a name clash. */
  private readonly clashed = new Set<string>()
  private closed = false

  constructor(private readonly dir: string, private readonly registry: WalkerRegistry, private readonly log: WalkerLogger, private readonly options: HotReloadOptions = {}) {}

  start(): void {
    this.watcher = watch(this.dir, { persistent: false }, (_event, filename) => {
      if (filename && isWalkerFile(filename)) this.schedule(join(this.dir, filename))
    })
    this.watcher.on('error', (err) => this.log.error({ err }, 'walker directory watch failed; hot reload stopped'))
    this.log.info({ dir: this.dir }, 'walker hot reload on')
  }

  close(): void {
    this.closed = true
    this.watcher?.close()
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }

  private schedule(file: string): void {
    if (this.closed) return
    clearTimeout(this.timers.get(file))
    const timer = setTimeout(() => {
      this.timers.delete(file)
      void this.reload(file)
    }, RELOAD_DEBOUNCE_MS)
    timer.unref()
    this.timers.set(file, timer)
  }

  private async reload(file: string): Promise<void> {
    const version = ++this.version
    this.latest.set(file, version)
    if (!existsSync(file)) {
      this.clashed.delete(file)
      const removed = this.registry.removeFile(file)
      if (removed.length > 0) {
        this.log.info({ file, walkers: removed }, 'walker file deleted; its walkers are gone')
        this.retryClashed()
      }
      return
    }
    const stuck = setTimeout(() => {
      if (this.latest.get(file) === version) this.log.warn({ file }, 'walker file is still loading (a top-level await that never settles?); the previous version keeps serving')
    }, this.options.stuckAfterMs ?? STUCK_IMPORT_MS)
    stuck.unref()
    let walkers: Walker[]
    try {
      walkers = await importWalkers(file, version)
    } catch (err) {
      if (this.latest.get(file) === version) this.refused(file, err)
      return
    } finally {
      clearTimeout(stuck)
    }
    if (this.latest.get(file) !== version || this.closed) return // a newer change to this file was made meanwhile
    try {
      const { added, removed } = this.registry.setFile(file, walkers)
      this.clashed.delete(file)
      this.log.info({ file, walkers: added, removed }, 'walkers reloaded')
      if (removed.length > 0) this.retryClashed()
    } catch (err) {
      this.refused(file, err)
    }
  }

  private refused(file: string, err: unknown): void {
    if (err instanceof WalkerNameClashError) this.clashed.add(file)
    else this.clashed.delete(file)
    this.log.error({ err, file }, 'walker reload failed; the previous version keeps serving')
  }

  /** A name was freed: the files refused for holding one may load now. */
  private retryClashed(): void {
    for (const file of this.clashed) this.schedule(file)
  }
}
