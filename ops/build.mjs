#!/usr/bin/env node
// The build behind npm start, npm run build and npm run build:web, done only where it is out of
// date, so that a second `npm start` starts at once:
// - the service: tsc (tsconfig.build.json) into dist/, incremental (dist/.tsbuildinfo), run when a
//   .ts file under src/ (but src/web, src/testing), plugins/ or routes/, a tsconfig, package.json
//   or the installed packages (node_modules/.package-lock.json) is newer than dist/.build-stamp;
// - the pages' bundles: esbuild into src/web/dist/ (chat.js, admin.js, admin.css), run when an
//   input its last metafile lists (or this file, or the installed packages) is newer than them.
// Plain JavaScript, so it runs before anything is compiled; esbuild and tsc are loaded only when
// there is something to build. Usage: node ops/build.mjs [--web] [--force]
import { spawnSync } from 'node:child_process'
import process from 'node:process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const at = (p) => join(root, p)
const args = new Set(process.argv.slice(2))
const force = args.has('--force')
const webOnly = args.has('--web')

const WEB_OUT = at('src/web/dist')
const WEB_ENTRIES = ['src/web/chat.ts', 'src/web/admin.ts', 'src/web/admin.css']
const WEB_OUTPUTS = ['chat.js', 'admin.js', 'admin.css'].map((f) => join(WEB_OUT, f))
const WEB_META = join(WEB_OUT, 'meta.json')
const STAMP = at('dist/.build-stamp')
/** Rewritten by every npm install or npm ci: stands for every installed package's files. */
const INSTALLED = at('node_modules/.package-lock.json')

const say = (line) => process.stderr.write(`build: ${line}\n`)

/** Modification time in ms; 0 when absent (an absent output is older than anything). */
function mtime(path) {
  try {
    return statSync(path).mtimeMs
  } catch {
    return 0
  }
}

/** Every .ts file under `dir`, but the folders in `skip`. */
function tsFiles(dir, skip) {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return skip.includes(relative(root, path)) || e.name === 'dist' ? [] : tsFiles(path, skip)
    return e.name.endsWith('.ts') ? [path] : []
  })
}

/** The newest of `inputs`, and which one it is. */
function newest(inputs) {
  let best = { path: undefined, time: 0 }
  for (const path of inputs) {
    const time = mtime(path)
    if (time > best.time) best = { path, time }
  }
  return best
}

function serviceStale() {
  if (force) return 'forced'
  const stamp = mtime(STAMP)
  if (stamp === 0 || !existsSync(at('dist/src/server.js'))) return 'no build yet'
  const inputs = [
    ...tsFiles(at('src'), ['src/web', 'src/testing']), ...tsFiles(at('plugins'), []), ...tsFiles(at('routes'), []),
    at('tsconfig.json'), at('tsconfig.build.json'), at('package.json'), INSTALLED
  ]
  const n = newest(inputs)
  return n.time > stamp ? `${relative(root, n.path)} changed` : undefined
}

function webStale() {
  if (force) return 'forced'
  const built = Math.min(...WEB_OUTPUTS.map(mtime), mtime(WEB_META))
  if (built === 0) return 'no bundle yet'
  let inputs
  try {
    inputs = Object.keys(JSON.parse(readFileSync(WEB_META, 'utf8')).inputs).map((p) => at(p))
  } catch {
    return 'no metafile'
  }
  const n = newest([...inputs, ...WEB_ENTRIES.map(at), fileURLToPath(import.meta.url), INSTALLED])
  return n.time > built ? `${relative(root, n.path)} changed` : undefined
}

function buildService(why) {
  say(`tsc (${why})`)
  // The stamp reads as of the start: a file saved while tsc ran is newer, and builds next time.
  const started = new Date()
  const tsc = spawnSync(process.execPath, [at('node_modules/typescript/bin/tsc'), '-p', at('tsconfig.build.json'), '--incremental', '--tsBuildInfoFile', STAMP.replace('.build-stamp', '.tsbuildinfo')], { stdio: 'inherit', cwd: root })
  if (tsc.status !== 0) process.exit(tsc.status ?? 1)
  mkdirSync(dirname(STAMP), { recursive: true })
  writeFileSync(STAMP, `${started.toISOString()}\n`)
  utimesSync(STAMP, started, started)
}

async function buildWeb(why) {
  say(`esbuild (${why})`)
  const { build } = await import('esbuild')
  const result = await build({
    absWorkingDir: root,
    entryPoints: WEB_ENTRIES,
    outdir: 'src/web/dist',
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    metafile: true,
    logLevel: 'warning'
  }).catch(() => process.exit(1)) // esbuild has printed the errors
  writeFileSync(WEB_META, JSON.stringify(result.metafile))
}

const service = webOnly ? undefined : serviceStale()
const web = webStale()
if (service) buildService(service)
if (web) await buildWeb(web)
if (!service && !web) say(webOnly ? 'the bundles are up to date' : 'up to date (dist/ and src/web/dist/ are newer than their sources)')
