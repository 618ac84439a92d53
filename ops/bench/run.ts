// Switchboard against raw `ws`, in the same run (issue 9). Every server runs in its own fresh
// process pinned to core 0, the load generator (loadgen.ts) on core 1; baseline and Switchboard
// alternate A/B within every round, and the table reports medians over the rounds.
//
//   npm run bench                        every scenario, 5 rounds (the 5k storm 3), about 14 minutes
//   npm run bench -- echo relay          only these (names or numbers 1–8)
//   npm run bench -- --quick             CI: short windows, small counts, one round; exits 1
//                                        when a ratio falls below 0.7 of its target
//   options: --rounds N  --out FILE  --check (exit 1 below the floor, also in a full run)
//            --profile (servers run with --cpu-prof into ops/bench/results/profiles;
//            `tsx ops/bench/profile-top.ts FILE` prints the top frames)
//
// Switchboard runs with its defaults except: LOG_LEVEL=warn, the per-connection frame budget
// raised (WS_FRAMES_PER_SEC/WS_FRAME_BURST: 10 frames in flight would hit the flood limit),
// CHAT_MSG_PER_MIN raised (the relay sends thousands per user), and the connection caps raised
// (MAX_CONNECTIONS/MAX_CONNECTIONS_PER_IP: the idle scenario holds 19k). docs/bench.md has results.
//
// Everything runs compiled, as in production (the image runs tsc's output, not tsx): the run
// starts by building the service, the servers and the load generator into a temporary
// directory laid out like the image (dist/, src/web/, node_modules linked).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Job, Window } from './loadgen.ts'
import { median } from './lib/stats.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const SERVER_CORE = '0'
const CLIENT_CORE = '1'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    out: { type: 'string' },
    profile: { type: 'boolean', default: false }
  }
})
const QUICK = flags.quick
const ROUNDS = Number(flags.rounds ?? (QUICK ? 1 : 5))
/** A ratio is a failure in --quick/--check only below this share of its target. */
const FLOOR = 0.7

/** Switchboard's environment under the bench: defaults, but for these (see the header). */
export const SWITCHBOARD_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  WS_FRAMES_PER_SEC: '1000000',
  WS_FRAME_BURST: '1000000',
  CHAT_MSG_PER_MIN: '1000000',
  MAX_CONNECTIONS: '100000',
  MAX_CONNECTIONS_PER_IP: '100000'
}

type ServerKind = 'switchboard' | 'raw-echo' | 'raw-relay' | 'naive-presence'

/** The compiled tree every process runs from; made by build(). */
let buildDir = ''

function build(): void {
  buildDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'))
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'ops/bench/tsconfig.build.json'), '--outDir', join(buildDir, 'dist')], { encoding: 'utf8' })
  if (tsc.status !== 0) throw new Error(`building for the bench failed:\n${tsc.stdout}${tsc.stderr}`)
  // The chat page's bundle (gitignored): a fresh clone has none until `npm run build:web`.
  const web = spawnSync('npm', ['run', '--silent', 'build:web'], { cwd: root, encoding: 'utf8' })
  if (web.status !== 0) throw new Error(`npm run build:web failed:\n${web.stdout}${web.stderr}`)
  // Found at run time by walking up from dist/: packages, the version, the pages' assets.
  symlinkSync(join(root, 'node_modules'), join(buildDir, 'node_modules'))
  symlinkSync(join(root, 'package.json'), join(buildDir, 'package.json'))
  mkdirSync(join(buildDir, 'src'))
  symlinkSync(join(root, 'src/web'), join(buildDir, 'src/web'))
}

const compiled = (file: string) => join(buildDir, 'dist/ops/bench', file)

interface Server {
  kind: ServerKind
  pid: number
  port: number
  proc: ChildProcess
  output(): string
}

async function startServer(kind: ServerKind, env: Record<string, string> = {}): Promise<Server> {
  const profile = flags.profile ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'ops/bench/results/profiles'), '--cpu-prof-name', `${kind}-${Date.now()}.cpuprofile`] : []
  const proc = spawn('taskset', ['-c', SERVER_CORE, process.execPath, '--expose-gc', ...profile, compiled(`servers/${kind}.js`)], {
    cwd: root,
    env: { ...process.env, ...(kind === 'switchboard' ? SWITCHBOARD_ENV : {}), ...env },
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
const at = (s: Server) => ({ port: s.port, pid: s.pid })

async function stopServer(server: Server): Promise<void> {
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) return
  const exited = new Promise((resolve) => server.proc.once('exit', resolve))
  // SIGTERM exits at once (servers/control.ts) and lets --cpu-prof write; SIGKILL if it hangs.
  server.proc.kill('SIGTERM')
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

async function loadgen<R>(job: Job): Promise<R> {
  const proc = spawn('taskset', ['-c', CLIENT_CORE, process.execPath, compiled('loadgen.js'), JSON.stringify(job)], {
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

/** Start a server, run one job against it, stop it: every measurement on a fresh process. */
async function once<R>(kind: ServerKind, job: (s: Server) => Job, env: Record<string, string> = {}): Promise<R & { server: ServerKind }> {
  const server = await startServer(kind, env)
  try {
    const result = await loadgen<R>(job(server))
    return { ...result, server: kind }
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- ${kind} output:\n${server.output().slice(-4000)}`, { cause: err })
  } finally {
    await stopServer(server)
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`)

// ------------------------------------------------------------------ rows of the table

interface Target {
  /** ratio ≥ value, or ≤ value. */
  op: '>=' | '<='
  value: number
  /** What is compared, when it is not the ratio column. */
  what?: string
  /** A correctness check: no floor below the target, in --quick either. */
  strict?: boolean
}

interface Row {
  id: string
  scenario: string
  metric: string
  baseline: number | string
  switchboard: number | string
  ratio: number
  target?: Target
  /** The value held against the target (the ratio unless `target.what` says otherwise). */
  checked?: number
  met?: boolean
  /** Met the --quick floor: 0.7 of the target, on the target's side. */
  aboveFloor?: boolean
  cpu?: string
  latency?: string
  perCpuRatio?: number
  notes: string[]
}

function judge(row: Row): Row {
  if (!row.target) return row
  const v = row.checked ?? row.ratio
  const { op, value } = row.target
  row.met = op === '>=' ? v >= value : v <= value
  const floor = row.target.strict ? 1 : FLOOR
  // The floor is a regression alarm, not a measurement: a throughput row passes it when either
  // its wall-clock ratio or its ratio per server CPU-second does. Other processes on a shared
  // machine (CI runs suites in parallel) move the first; the second they hardly touch, and a
  // real regression lowers both.
  const best = row.checked === undefined && row.perCpuRatio !== undefined && op === '>=' ? Math.max(v, row.perCpuRatio) : v
  row.aboveFloor = op === '>=' ? best >= value * floor : best <= value / floor
  return row
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—')
const ms = (x: number) => (Number.isFinite(x) ? (x < 1 ? x.toFixed(3) : x.toFixed(2)) : '—')

// ------------------------------------------------------------------ saturation scenarios

interface RateResult {
  server: ServerKind
  rate: number
  perCpuSecond: number
  errors: number
  p50: number
  p99: number
  window: Window
  closedConnections?: number
}

/**
 * A saturation run is only a measurement of the server when the server was the limit. Below
 * 85 % of its core: the client was the limit when the client's core was busy with it, else
 * other processes took the server's core (the machine is shared) — kept, flagged.
 */
function saturationFlag(r: RateResult): 'client-bound' | 'contended' | undefined {
  if (r.window.serverCpuPct >= 85) return undefined
  return r.window.clientCpuPct >= 90 ? 'client-bound' : 'contended'
}

/** Medians over rounds, client-bound runs left out while at least 3 runs remain. */
function summarize(runs: RateResult[]): { rate: number; perCpu: number; cpu: number; p50: number; p99: number; notes: string[]; kept: RateResult[] } {
  const notes: string[] = []
  const clientBound = runs.filter((r) => saturationFlag(r) === 'client-bound')
  let kept = runs
  if (clientBound.length && runs.length - clientBound.length >= 3) {
    kept = runs.filter((r) => saturationFlag(r) !== 'client-bound')
    notes.push(`${clientBound.length} client-bound run(s) discarded`)
  } else if (clientBound.length) {
    notes.push(`${clientBound.length} run(s) client-bound (kept: too few left)`)
  }
  const contended = kept.filter((r) => saturationFlag(r) === 'contended').length
  if (contended) notes.push(`${contended} run(s) below 85 % server CPU with the client not busy (shared machine)`)
  const errors = kept.reduce((n, r) => n + r.errors, 0)
  if (errors) notes.push(`${errors} error replies`)
  const closed = kept.reduce((n, r) => n + (r.closedConnections ?? 0), 0)
  if (closed) notes.push(`${closed} connections closed by the server`)
  return {
    rate: median(kept.map((r) => r.rate)),
    perCpu: median(kept.map((r) => r.perCpuSecond)),
    cpu: median(kept.map((r) => r.window.serverCpuPct)),
    p50: median(kept.map((r) => r.p50)),
    p99: median(kept.map((r) => r.p99)),
    notes,
    kept
  }
}

async function alternate<R>(label: string, a: () => Promise<R>, b: () => Promise<R>, describe: (r: R) => string, rounds = ROUNDS): Promise<{ base: R[]; sb: R[] }> {
  const base: R[] = []
  const sb: R[] = []
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so drift (heat, other load) favours neither.
    const order: ['base' | 'sb', () => Promise<R>][] = round % 2 === 0 ? [['base', a], ['sb', b]] : [['sb', b], ['base', a]]
    for (const [side, run] of order) {
      const r = await run()
      ;(side === 'base' ? base : sb).push(r)
      log(`  ${label} round ${round + 1} ${side === 'base' ? 'baseline   ' : 'switchboard'} ${describe(r)}`)
    }
  }
  return { base, sb }
}

const describeRate = (r: RateResult) =>
  `${fmt(r.rate).padStart(9)}/s  server ${fmt(r.window.serverCpuPct).padStart(3)} %  client ${fmt(r.window.clientCpuPct).padStart(3)} %  ` +
  `cores ${r.window.coreBusyPct.join('/')} %  p50 ${ms(r.p50)} p99 ${ms(r.p99)} ms${saturationFlag(r) ? `  [${saturationFlag(r)}]` : ''}`

interface SaturationSpec {
  id: string
  scenario: string
  unit: string
  baseline: ServerKind
  target: number
  baseJob: (s: Server) => Job
  sbJob: (s: Server) => Job
  note?: string
  /** Rounds in --quick (default one): a row that sits near its floor takes the median of a few. */
  quickRounds?: number
}

async function saturation(spec: SaturationSpec): Promise<Row> {
  log(`\n${spec.scenario}`)
  const { base, sb } = await alternate(spec.id,
    () => once<RateResult>(spec.baseline, spec.baseJob),
    () => once<RateResult>('switchboard', spec.sbJob),
    describeRate,
    QUICK ? Math.max(spec.quickRounds ?? 1, ROUNDS) : ROUNDS)
  const b = summarize(base)
  const s = summarize(sb)
  return judge({
    id: spec.id,
    scenario: spec.scenario,
    metric: spec.unit,
    baseline: Math.round(b.rate),
    switchboard: Math.round(s.rate),
    ratio: s.rate / b.rate,
    perCpuRatio: s.perCpu / b.perCpu,
    target: { op: '>=', value: spec.target },
    cpu: `${fmt(b.cpu)} / ${fmt(s.cpu)}`,
    latency: `${ms(b.p50)}/${ms(b.p99)} · ${ms(s.p50)}/${ms(s.p99)}`,
    notes: [...(spec.note ? [spec.note] : []), ...b.notes.map((n) => `baseline: ${n}`), ...s.notes.map((n) => `switchboard: ${n}`)]
  })
}

const timing = () => (QUICK ? { warmupS: 1, measureS: 2 } : { warmupS: 1.5, measureS: 3.5 })
const LOAD = { conns: 50, inflight: 10 }

const echo = () => saturation({
  id: '1 echo', scenario: '1. echo /ws, plain text, 50 conns × 10 in flight', unit: 'msgs/s', baseline: 'raw-echo', target: 0.97,
  baseJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing(), path: '/', payload: 'hello switchboard bench 0123456789' }),
  sbJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing(), path: '/ws', greeting: '{"type":"WELCOME"', payload: 'hello switchboard bench 0123456789' })
})

const JSON_PAYLOAD = JSON.stringify({ type: 'test', data: 'hello switchboard bench' })
const echoJson = () => saturation({
  id: '2 /ws/echo', scenario: '2. /ws/echo JSON envelope, same load', unit: 'msgs/s', baseline: 'raw-echo', target: 0.8,
  baseJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing(), path: '/', payload: JSON_PAYLOAD }),
  sbJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing(), path: '/ws/echo', greeting: '{"type":"welcome"', replyPrefix: '{"type":"echo"', payload: JSON_PAYLOAD }),
  note: 'baseline echoes the frame verbatim; Switchboard answers with the envelope'
})

const WALKER_PAYLOAD = JSON.stringify({ message: 'hello switchboard bench', client_id: 'bench' })
const walker = () => saturation({
  id: '3 walker', scenario: '3. walker round trip /ws/EchoMessage, same load', unit: 'msgs/s', baseline: 'raw-echo', target: 0.75,
  baseJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing(), path: '/', payload: WALKER_PAYLOAD }),
  sbJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing(), path: '/ws/EchoMessage', payload: WALKER_PAYLOAD }),
  note: 'baseline echoes the frame verbatim'
})

const relay = () => saturation({
  id: '4 relay', scenario: '4. FastChat MSG relay + MSG_ACK, 50 pairs × 10 in flight', unit: 'MSG/s', baseline: 'raw-relay', target: 0.8,
  baseJob: (s) => ({ kind: 'relay', ...at(s), server: 'raw', pairs: 50, inflight: 10, ...timing() }),
  sbJob: (s) => ({ kind: 'relay', ...at(s), server: 'switchboard', pairs: 50, inflight: 10, ...timing() }),
  note: 'acked MSGs per second; the raw relay forwards verbatim with a fixed ack',
  // On a Xeon the relay sits nearest its CI floor (docs/bench.md): three short rounds, not one.
  quickRounds: 3
})

const connectRate = () => saturation({
  id: '8 connect', scenario: '8. connection establishment (handshake to 101, then RST), 50 at a time', unit: 'conns/s', baseline: 'raw-echo', target: 0,
  baseJob: (s) => ({ kind: 'connect', ...at(s), path: '/', concurrency: 50, ...timing() }),
  sbJob: (s) => ({ kind: 'connect', ...at(s), path: '/ws', concurrency: 50, ...timing() }),
  note: 'Switchboard on /ws also sends its WELCOME; p50/p99 are handshake times'
}).then((row) => {
  delete row.target // the issue sets no target here: reported for the record
  delete row.met
  delete row.aboveFloor
  return row
})

// ------------------------------------------------------------------ unloaded latency

interface LatencyResult {
  server: ServerKind
  p50: number
  p99: number
  window: Window
}

async function latency(): Promise<Row> {
  const scenario = '5. unloaded round trip, 1 conn, 1 in flight (ws client)'
  log(`\n${scenario}`)
  // A short warm-up leaves compilation in the window: the first thousands of round trips carry a JIT tail.
  const samples = QUICK ? { warmup: 3000, samples: 6000 } : { warmup: 3000, samples: 30_000 }
  const { base, sb } = await alternate('5 latency',
    () => once<LatencyResult>('raw-echo', (s) => ({ kind: 'latency', ...at(s), path: '/', ...samples })),
    () => once<LatencyResult>('switchboard', (s) => ({ kind: 'latency', ...at(s), path: '/ws', greeting: 'WELCOME', ...samples })),
    (r) => `p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms  cores ${r.window.coreBusyPct.join('/')} %`,
    // One round's p99 is one scheduling hiccup away from double: quick mode takes three short ones.
    QUICK ? Math.max(3, ROUNDS) : ROUNDS)
  const b = { p50: median(base.map((r) => r.p50)), p99: median(base.map((r) => r.p99)) }
  const s = { p50: median(sb.map((r) => r.p50)), p99: median(sb.map((r) => r.p99)) }
  // A p99 of ~0.2 ms moves tenfold with the machine's load from one minute to the next, so the
  // ratio is taken within each round (its two runs are next to each other), then the median.
  const paired = (f: (r: LatencyResult) => number) => median(base.map((r, i) => f(sb[i]!) / f(r)))
  return judge({
    id: '5 latency',
    scenario,
    metric: 'p99 ms',
    baseline: ms(b.p99),
    switchboard: ms(s.p99),
    ratio: paired((r) => r.p99),
    target: { op: '<=', value: 1.1 },
    latency: `${ms(b.p50)}/${ms(b.p99)} · ${ms(s.p50)}/${ms(s.p99)}`,
    notes: [`ratio: median of the rounds' Switchboard ÷ baseline p99 (p50: ${paired((r) => r.p50).toFixed(2)}); rounds' p99 ms: ` +
      base.map((r, i) => `${ms(r.p99)}·${ms(sb[i]!.p99)}`).join(', ')]
  })
}

// ------------------------------------------------------------------ idle connections

interface IdleResult {
  server: ServerKind
  zero: { rss: number; heapUsed: number }
  steps: { connections: number; rss: number; heapUsed: number; rssPerConn: number; heapPerConn: number; connectS: number }[]
}

async function idle(): Promise<Row[]> {
  const steps = QUICK ? [5000] : [5000, 19_000]
  const scenario = `6. idle connections (${steps.map((n) => `${n / 1000}k`).join(', ')}), memory after forced GC`
  log(`\n${scenario}`)
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'))
  const mb = (x: number) => (x / 1024 / 1024).toFixed(1)
  let runs = 0
  const measure = (kind: ServerKind, path: string) => {
    // A file per run: a report left by an earlier server must not pass for this one's.
    const memoryFile = join(dir, `memory-${runs++}.json`)
    return once<IdleResult>(kind, (s) => ({ kind: 'idle', ...at(s), path, steps, memoryFile }), { BENCH_MEMORY_FILE: memoryFile })
  }
  try {
    const { base, sb } = await alternate('6 idle',
      () => measure('raw-echo', '/'),
      () => measure('switchboard', '/ws'),
      (r) => r.steps.map((st) => `${st.connections} conns: RSS ${mb(st.rss)} MB (${fmt(st.rssPerConn)} B/conn), heap ${fmt(st.heapPerConn)} B/conn`).join('; '))
    const rows: Row[] = []
    steps.forEach((n, i) => {
      const per = (rs: IdleResult[], key: 'rssPerConn' | 'heapPerConn') => median(rs.map((r) => r.steps[i]![key]))
      const total = (rs: IdleResult[]) => median(rs.map((r) => r.steps[i]!.rss))
      const short = base.concat(sb).filter((r) => r.steps[i]!.connections < n)
      const notes = [`RSS total ${mb(total(base))} MB · ${mb(total(sb))} MB; heap/conn ${fmt(per(base, 'heapPerConn'))} B · ${fmt(per(sb, 'heapPerConn'))} B`]
      if (short.length) notes.push(`${short.length} run(s) held fewer than ${n} connections`)
      rows.push(judge({
        id: `6 idle ${n / 1000}k`,
        scenario: `6. idle connections, ${n / 1000}k: RSS per connection`,
        metric: 'bytes/conn',
        baseline: Math.round(per(base, 'rssPerConn')),
        switchboard: Math.round(per(sb, 'rssPerConn')),
        ratio: per(sb, 'rssPerConn') / per(base, 'rssPerConn'),
        target: { op: '<=', value: 1.15 },
        notes
      }))
      if (n === 19_000) {
        rows.push(judge({
          id: '6 idle 19k total',
          scenario: '6. idle connections, 19k: Switchboard RSS',
          metric: 'MB',
          baseline: mb(total(base)),
          switchboard: mb(total(sb)),
          ratio: total(sb) / total(base),
          target: { op: '<=', value: 250, what: 'Switchboard RSS MB' },
          checked: total(sb) / 1024 / 1024,
          notes: []
        }))
      }
    })
    return rows
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// ------------------------------------------------------------------ presence join storm

interface StormResult {
  server: ServerKind
  users: number
  mode: 'full' | 'delta' | 'naive'
  aborted?: string
  serverCpuS: number
  serverCpuToCompleteS: number
  bytesSent: number
  completeMs: number
  afterLastHelloMs: number
  exactLists: number
  acked: number
  window: Window
}

type StormMode = StormResult['mode']

function stormRun(mode: StormMode, users: number, limits: { timeoutS: number; rssLimitMb: number }): Promise<StormResult> {
  return once<StormResult>(mode === 'naive' ? 'naive-presence' : 'switchboard', (s) => ({
    kind: 'storm', ...at(s), mode, users, spreadS: STORM_SPREAD_S, path: mode === 'naive' ? '/' : '/ws', ...limits
  }))
}

const STORM_SPREAD_S = 2
/** The quick mode's storm: small enough for the naive server to finish. */
const QUICK_STORM_USERS = 500
/** Past these the naive server is stopped; what it used by then is a lower bound on its cost. */
const NAIVE_CAP = { timeoutS: 25, rssLimitMb: 3000 }
const SWITCHBOARD_CAP = { timeoutS: 90, rssLimitMb: 3000 }

/**
 * The bytes the naive server must send for `users` joins: the k-th join sends a list of k
 * entries to k clients (the load generator's entries all have the same length).
 */
function naiveBytes(users: number): number {
  const entry = JSON.stringify({ user_id: '0'.repeat(36), display_name: 'User 00000', online: true }).length
  let total = 0
  for (let k = 1; k <= users; k++) {
    const payload = '{"type":"PRESENCE","data":{"users":[]}}'.length + k * entry + (k - 1)
    total += k * (payload + (payload < 126 ? 2 : payload < 65_536 ? 4 : 10))
  }
  return total
}

function describeStorm(r: StormResult): string {
  return `CPU ${r.serverCpuS.toFixed(2)} s (kernel ${r.window.serverSysS.toFixed(2)} s)  sent ${(r.bytesSent / 1e6).toFixed(1)} MB  ` +
    `complete after ${fmt(r.completeMs)} ms  exact lists ${r.exactLists}/${r.users}${r.aborted ? `  [stopped: ${r.aborted}]` : ''}`
}

/**
 * Scenario 7. Full and delta mode alternate within every round. The naive baseline cannot
 * finish at the sizes the issue names (1k users: ~28 GB to send, 5k: ~3.5 TB; it buffers what
 * its clients cannot read yet): it runs once until a cap, which gives a lower bound on its
 * cost, and its CPU per byte sent until then, times the bytes it would have to send, estimates
 * the whole. The quick mode's 500 users it finishes.
 */
async function storm(): Promise<Row[]> {
  const rows: Row[] = []
  for (const users of QUICK ? [QUICK_STORM_USERS] : [1000, 5000]) {
    log(`\n7. presence join storm, ${users} users HELLO within ${STORM_SPREAD_S} s: full and delta mode, naive baseline`)
    const results: Record<'full' | 'delta', StormResult[]> = { full: [], delta: [] }
    // A 5k storm takes about a minute a round (both modes): three rounds keep the run in 15 minutes.
    const rounds = users >= 5000 ? Math.min(ROUNDS, 3) : ROUNDS
    for (let round = 0; round < rounds; round++) {
      for (const mode of round % 2 === 0 ? ['full', 'delta'] as const : ['delta', 'full'] as const) {
        const r = await stormRun(mode, users, SWITCHBOARD_CAP)
        results[mode].push(r)
        log(`  7 storm ${users} round ${round + 1} ${mode.padEnd(5)} ${describeStorm(r)}`)
      }
    }
    const naive = await stormRun('naive', users, NAIVE_CAP)
    log(`  7 storm ${users} naive         ${describeStorm(naive)}`)

    const m = (rs: StormResult[], f: (r: StormResult) => number) => median(rs.map(f))
    const cpu = (rs: StormResult[]) => m(rs, (r) => r.serverCpuS)
    const full = cpu(results.full)
    const delta = cpu(results.delta)
    const stopped = naive.aborted !== undefined
    const needed = naiveBytes(users)
    const estimate = stopped ? (naive.serverCpuS * needed) / naive.bytesSent : naive.serverCpuS
    const summary = (name: string, rs: StormResult[]) =>
      `${name}: CPU ${cpu(rs).toFixed(2)} s (kernel ${m(rs, (r) => r.window.serverSysS).toFixed(2)} s), ${(m(rs, (r) => r.bytesSent) / 1e6).toFixed(1)} MB sent, ` +
      `every list complete after ${fmt(m(rs, (r) => r.completeMs))} ms, exact lists ${rs.every((r) => r.exactLists === users) ? 'all' : m(rs, (r) => r.exactLists)}`
    const naiveNote = stopped
      ? `naive stopped (${naive.aborted}) after ${naive.serverCpuS.toFixed(1)} s CPU and ${(naive.bytesSent / 1e9).toFixed(1)} of the ${(needed / 1e9).toFixed(1)} GB it must send: ` +
        `a lower bound; at its CPU per byte the whole storm would take ~${estimate.toFixed(0)} s`
      : `naive: CPU ${naive.serverCpuS.toFixed(2)} s, ${(naive.bytesSent / 1e6).toFixed(1)} MB sent, exact lists ${naive.exactLists}/${users}`
    rows.push(judge({
      id: `7 storm ${users} full`,
      scenario: `7. join storm, ${users} users: server CPU, naive vs full mode`,
      metric: 'CPU s',
      baseline: stopped ? `≥ ${naive.serverCpuS.toFixed(1)} (est. ${estimate.toFixed(0)})` : naive.serverCpuS.toFixed(2),
      switchboard: full.toFixed(2),
      ratio: full / naive.serverCpuS,
      // Small storms are mostly fixed costs: the 20× is judged at the sizes the issue names.
      ...(QUICK ? {} : { target: { op: '>=' as const, value: 20, what: 'naive ÷ full CPU' }, checked: estimate / full }),
      notes: [`full is ${(estimate / full).toFixed(0)}× cheaper${stopped ? ` (estimate; measured lower bound ${(naive.serverCpuS / full).toFixed(1)}×)` : ''}`,
        summary('full', results.full), summary('delta', results.delta), naiveNote]
    }))
    rows.push(judge({
      id: `7 storm ${users} delta`,
      scenario: `7. join storm, ${users} users: server CPU, delta mode`,
      metric: 'CPU s',
      baseline: stopped ? `≥ ${naive.serverCpuS.toFixed(1)}` : naive.serverCpuS.toFixed(2),
      switchboard: delta.toFixed(2),
      ratio: delta / naive.serverCpuS,
      // The 2 s target is for 5k users; other sizes are reported against it for the record.
      target: { op: '<=', value: 2, what: 'delta CPU s' },
      checked: delta,
      notes: [`every list complete ${fmt(m(results.delta, (r) => r.completeMs))} ms after the first HELLO (${fmt(m(results.delta, (r) => r.afterLastHelloMs))} ms after the last); ` +
        `kernel ${m(results.delta, (r) => r.window.serverSysS).toFixed(2)} s of it, sending ${(m(results.delta, (r) => r.bytesSent) / 1e9).toFixed(2)} GB`]
    }))
    rows.push(judge({
      id: `7 storm ${users} exact`,
      scenario: `7. join storm, ${users} users: clients ending with the exact list (full, delta)`,
      metric: 'clients',
      baseline: `${naive.exactLists}/${users}${stopped ? ' (stopped)' : ''}`,
      switchboard: `${m(results.full, (r) => r.exactLists)}/${users}, ${m(results.delta, (r) => r.exactLists)}/${users}`,
      ratio: Math.min(...[...results.full, ...results.delta].map((r) => r.exactLists)) / users,
      target: { op: '>=', value: 1, what: 'every run, every client', strict: true },
      notes: []
    }))
  }
  return rows
}

// ------------------------------------------------------------------ main

const SCENARIOS: Record<string, () => Promise<Row | Row[]>> = {
  echo, 'echo-json': echoJson, walker, relay, latency, idle, storm, connect: connectRate
}
const BY_NUMBER = ['echo', 'echo-json', 'walker', 'relay', 'latency', 'idle', 'storm', 'connect']

function selected(): string[] {
  if (positionals.length === 0) return BY_NUMBER
  return positionals.map((p) => {
    const name = /^\d$/.test(p) ? BY_NUMBER[Number(p) - 1] : p
    if (!name || !(name in SCENARIOS)) throw new Error(`unknown scenario "${p}": one of ${BY_NUMBER.join(', ')} (or 1–8)`)
    return name
  })
}

function table(rows: Row[]): string {
  const head = '| scenario | metric | raw ws baseline | Switchboard | ratio | target | met | server CPU % (base / SB) | p50/p99 ms (base · SB) | notes |'
  const lines = [head, '|---|---|---|---|---|---|---|---|---|---|']
  for (const r of rows) {
    const value = (v: number | string) => (typeof v === 'number' ? fmt(v) : v)
    const target = r.target ? `${r.target.what ? `${r.target.what} ` : ''}${r.target.op} ${r.target.value}` : '—'
    const met = r.met === undefined ? '—' : r.met ? 'yes' : r.aboveFloor ? 'no' : 'NO (below floor)'
    const ratio = `${r.ratio.toFixed(2)}${r.perCpuRatio !== undefined ? ` (per CPU-s ${r.perCpuRatio.toFixed(2)})` : ''}`
    lines.push(`| ${r.scenario} | ${r.metric} | ${value(r.baseline)} | ${value(r.switchboard)} | ${ratio} | ${target} | ${met} | ${r.cpu ?? '—'} | ${r.latency ?? '—'} | ${r.notes.join('; ')} |`)
  }
  return lines.join('\n')
}

function conditions() {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  return { load, cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version }
}

async function main(): Promise<void> {
  const names = selected()
  const started = Date.now()
  const before = conditions()
  log(`switchboard bench: ${names.join(', ')}; ${QUICK ? 'quick, ' : ''}${ROUNDS} round(s); server on core ${SERVER_CORE}, load generator on core ${CLIENT_CORE}`)
  log(`machine: ${before.cpus} × ${before.model}, node ${before.node}, load average ${before.load}`)
  log(`Switchboard env: ${Object.entries(SWITCHBOARD_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  build()
  const rows: Row[] = []
  try {
    for (const name of names) rows.push(...[await SCENARIOS[name]!()].flat())
  } finally {
    rmSync(buildDir, { recursive: true, force: true })
  }
  const after = conditions()
  const minutes = (Date.now() - started) / 60_000
  const text = table(rows)
  log(`\n${text}\n`)
  log(`${minutes.toFixed(1)} min; load average before ${before.load}, after ${after.load}`)
  const result = {
    date: new Date().toISOString(),
    command: `npm run bench --${QUICK ? ' --quick' : ''}${positionals.length ? ` ${positionals.join(' ')}` : ''}${flags.rounds ? ` --rounds ${flags.rounds}` : ''}`,
    quick: QUICK,
    rounds: ROUNDS,
    machine: { cpus: before.cpus, model: before.model, node: before.node },
    load: { before: before.load, after: after.load },
    minutes,
    switchboardEnv: SWITCHBOARD_ENV,
    rows,
    table: text
  }
  const out = flags.out ?? join(root, 'ops/bench/results', QUICK ? 'quick-latest.json' : `bench-${result.date.replace(/[:.]/g, '-')}.json`)
  mkdirSync(join(out, '..'), { recursive: true })
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  log(`results: ${out}`)
  const failing = rows.filter((r) => r.aboveFloor === false)
  if ((QUICK || flags.check) && failing.length) {
    log(`below the floor (${FLOOR} of target): ${failing.map((r) => r.id).join(', ')}`)
    process.exit(1)
  }
}

await main()
