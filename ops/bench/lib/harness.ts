// What every bench run is made of (run.ts: Switchboard against raw `ws`; ab.ts: Switchboard
// from two trees): compiling a tree with tsc into a temporary directory laid out like the image,
// starting a server in a fresh process pinned to core 0, running the load generator on core 1,
// alternating two sides within every round, and the table's number formats.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Job } from '../loadgen.ts'
import { coreBusy, coreTimes, inTurn } from './stats.ts'

/** The tree this harness belongs to: its node_modules serve every build. */
export const root = fileURLToPath(new URL('../../..', import.meta.url))
export const SERVER_CORE = '0'
export const CLIENT_CORE = '1'

/** Switchboard's environment under the bench: defaults, but for these (see run.ts's header). */
export const SWITCHBOARD_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  // The default history store (SQLite) opens its file here, not in the repository's ./data.
  DATA_DIR: join(tmpdir(), `switchboard-bench-data-${process.pid}`),
  WS_FRAMES_PER_SEC: '1000000',
  WS_FRAME_BURST: '1000000',
  CHAT_MSG_PER_MIN: '1000000',
  MAX_CONNECTIONS: '100000',
  MAX_CONNECTIONS_PER_IP: '100000'
}

export type ServerKind = 'switchboard' | 'raw-echo' | 'raw-relay' | 'naive-presence' | 'socketio-relay' | 'raw-greet' | 'switchboard-layers'

export const log = (line: string) => process.stdout.write(`${line}\n`)

// ------------------------------------------------------------------ one bench at a time

/** Held by the bench that measures now: two on the same two cores would measure each other. */
const LOCK = join(tmpdir(), 'switchboard-bench.lock')

function lockHolder(): number | undefined {
  try {
    const pid = Number(readFileSync(LOCK, 'utf8'))
    process.kill(pid, 0) // throws when no such process: a stale lock
    return pid
  } catch {
    return undefined
  }
}

/**
 * Wait until no other bench (run.ts or ab.ts, from any tree) measures on this machine, then hold
 * the lock until this process exits. Waits at most `maxS` seconds, then fails.
 */
export async function benchLock(maxS = 3600): Promise<void> {
  const started = Date.now()
  let told = false
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      process.once('exit', () => {
        if (lockHolder() === process.pid) rmSync(LOCK, { force: true })
      })
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)))
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = lockHolder()
    if (holder === undefined) {
      rmSync(LOCK, { force: true }) // its process is gone
      continue
    }
    if (!told) log(`waiting for the bench running as pid ${holder} to finish (${LOCK})`)
    told = true
    if (Date.now() - started > maxS * 1000) throw new Error(`another bench (pid ${holder}) held ${LOCK} for ${maxS} s`)
    await sleep(5000)
  }
}

// ------------------------------------------------------------------ builds

/** A tree compiled for the bench: `dir` holds dist/ (tsc's output) and links like the image's. */
export interface Build {
  dir: string
  /** The tree it was compiled from. */
  source: string
}

function tsc(project: string, outDir: string): void {
  const run = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project, '--outDir', outDir], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`tsc -p ${project} failed:\n${run.stdout}${run.stderr}`)
}

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'))
  // Found at run time by walking up from dist/. Every tree runs on this tree's packages.
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

/**
 * Compile a tree (the service, the bench's servers and load generator, by the tree's own
 * ops/bench/tsconfig.build.json) into a new temporary directory laid out like the Docker image.
 * `source` needs node_modules (a link to this tree's will do).
 */
export function buildTree(source: string = root): Build {
  const dir = scratch()
  try {
    tsc(join(source, 'ops/bench/tsconfig.build.json'), join(dir, 'dist'))
    // The chat page's bundle (gitignored): a fresh clone has none until `npm run build:web`.
    const web = spawnSync('npm', ['run', '--silent', 'build:web'], { cwd: source, encoding: 'utf8' })
    if (web.status !== 0) throw new Error(`npm run build:web in ${source} failed:\n${web.stdout}${web.stderr}`)
    // Found at run time by walking up from dist/: the version, the pages' assets.
    symlinkSync(join(source, 'package.json'), join(dir, 'package.json'))
    mkdirSync(join(dir, 'src'))
    symlinkSync(join(source, 'src/web'), join(dir, 'src/web'))
  } catch (err) {
    removeBuild({ dir, source })
    throw err
  }
  return { dir, source }
}

/** The load generator alone, from this tree: it does not need the service to compile. */
export function buildLoadgen(): Build {
  const dir = scratch()
  try {
    const project = join(dir, 'tsconfig.loadgen.json')
    writeFileSync(project, JSON.stringify({ extends: join(root, 'tsconfig.build.json'), include: [join(root, 'ops/bench/loadgen.ts')] }))
    tsc(project, join(dir, 'dist'))
  } catch (err) {
    removeBuild({ dir, source: root })
    throw err
  }
  return { dir, source: root }
}

export function removeBuild(build: Build): void {
  rmSync(build.dir, { recursive: true, force: true })
}

const compiled = (build: Build, file: string) => join(build.dir, 'dist/ops/bench', file)

// ------------------------------------------------------------------ processes

export interface Server {
  kind: ServerKind
  pid: number
  port: number
  proc: ChildProcess
  output(): string
}

export interface RunOptions {
  /** The build the load generator runs from. */
  loadgen: Build
  env?: Record<string, string>
  /** Run the server with --cpu-prof, the profile's name starting with this. */
  profile?: string
  /** More node (or V8) options for the server. */
  nodeArgs?: string[]
}

async function startServer(build: Build, kind: ServerKind, opts: RunOptions): Promise<Server> {
  const profile = opts.profile ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'ops/bench/results/profiles'), '--cpu-prof-name', `${opts.profile}-${Date.now()}.cpuprofile`] : []
  const proc = spawn('taskset', ['-c', SERVER_CORE, process.execPath, '--expose-gc', ...(opts.nodeArgs ?? []), ...profile, compiled(build, `servers/${kind}.js`)], {
    cwd: root,
    env: { ...process.env, ...(kind === 'switchboard' ? SWITCHBOARD_ENV : {}), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000) // always read, or a chatty server would block on its pipe
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const ready = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start within 30 s:\n${out}`)), 30_000)
    proc.stdout!.on('data', () => {
      const m = /BENCH_READY (\{.*\})/.exec(out)
      if (!m) return
      clearTimeout(timer)
      resolve(JSON.parse(m[1]!))
    })
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${kind} exited (${code}) before it was ready:\n${out}`))
    })
  })
  return { kind, ...ready, proc, output: () => out }
}

/** Where a job finds its server. */
export const at = (s: Server) => ({ port: s.port, pid: s.pid })

async function stopServer(server: Server): Promise<void> {
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) return
  const exited = new Promise((resolve) => server.proc.once('exit', resolve))
  // SIGTERM exits at once (servers/control.ts) and lets --cpu-prof write; SIGKILL if it hangs.
  server.proc.kill('SIGTERM')
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

async function loadgen<R>(build: Build, job: Job): Promise<R> {
  const proc = spawn('taskset', ['-c', CLIENT_CORE, process.execPath, compiled(build, 'loadgen.js'), JSON.stringify(job)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve))
  const m = /BENCH_RESULT (\{.*\})/.exec(out)
  if (code !== 0 || !m) throw new Error(`load generator failed (${code}):\n${out.slice(-4000)}`)
  return JSON.parse(m[1]!) as R
}

/** Start a server from `build`, run one job against it, stop it: every measurement on a fresh process. */
export async function once<R>(build: Build, kind: ServerKind, job: (s: Server) => Job, opts: RunOptions): Promise<R & { server: ServerKind }> {
  const server = await startServer(build, kind, opts)
  try {
    const result = await loadgen<R>(opts.loadgen, job(server))
    return { ...result, server: kind }
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- ${kind} output:\n${server.output().slice(-4000)}`, { cause: err })
  } finally {
    await stopServer(server)
  }
}

/**
 * Wait until every core has been nearly idle for half a second, at most `maxS` seconds: on a
 * shared machine another process (a build, a test suite) takes the server's core and the run
 * measures it instead. Returns the seconds waited and whether the machine was quiet by then.
 */
export async function waitForQuiet(maxS: number, busyPct = 15): Promise<{ waitedS: number; quiet: boolean }> {
  const started = Date.now()
  for (;;) {
    const a = coreTimes()
    await sleep(500)
    const busy = Math.max(...coreBusy(a, coreTimes()))
    const waitedS = (Date.now() - started) / 1000
    if (busy < busyPct) return { waitedS, quiet: true }
    if (waitedS >= maxS) return { waitedS, quiet: false }
  }
}

// ------------------------------------------------------------------ A/B rounds

export interface Side<R> {
  /** As the log names it. */
  name: string
  run: () => Promise<R>
}

/** `rounds` rounds of one run of each side; which goes first flips every round. */
export async function alternate<R>(label: string, a: Side<R>, b: Side<R>, describe: (r: R) => string, rounds: number): Promise<[R[], R[]]> {
  const results: [R[], R[]] = [[], []]
  const width = Math.max(a.name.length, b.name.length)
  for (let round = 0; round < rounds; round++) {
    for (const i of inTurn([0, 1], round)) {
      const side = i === 0 ? a : b
      const r = await side.run()
      results[i]!.push(r)
      log(`  ${label} round ${round + 1} ${side.name.padEnd(width)} ${describe(r)}`)
    }
  }
  return results
}

// ------------------------------------------------------------------ reporting

export const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—')
export const ms = (x: number) => (Number.isFinite(x) ? (x < 1 ? x.toFixed(3) : x.toFixed(2)) : '—')

/** The machine and its load average now, for the record. */
export function conditions() {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  return { load, cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version }
}

/**
 * The tree a run measures, for its JSON: HEAD's short rev and what differs from it under the
 * service's sources (said in the log too, so a run on uncommitted code says so).
 */
export function treeState(): { rev: string; dirty: string[] } {
  const git = (args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' }).stdout
  const rev = git(['rev-parse', '--short', 'HEAD']).trim()
  const dirty = git(['status', '--porcelain', '--', 'src', 'plugins', 'routes']).trimEnd()
  if (dirty) log(`work tree differs from ${rev} under src/, plugins/, routes/:\n${dirty}`)
  return { rev, dirty: dirty ? dirty.split('\n') : [] }
}

/** Write a run's JSON (directories made as needed) and say where. */
export function writeResult(out: string, result: object): void {
  mkdirSync(join(out, '..'), { recursive: true })
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  log(`results: ${out}`)
}
