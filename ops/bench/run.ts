// Switchboard against raw `ws`, in the same run (issue 9). Every server runs in its own fresh
// process pinned to core 0, the load generator (loadgen.ts) on core 1; baseline and Switchboard
// alternate A/B within every round, and the table reports medians over the rounds.
//
//   npm run bench                        every scenario, 5 rounds (the 5k storm 3), about 14 minutes
//   npm run bench -- echo relay          only these (names or numbers 1–8)
//   npm run bench -- --quick             CI: short windows, small counts, one round; exits 1
//                                        when a ratio falls below 0.7 of its target
//   npm run bench -- socketio [--quick]  Switchboard against Socket.IO 4 instead (issue 17 target 5):
//                                        relay + ack, unloaded p99, idle RSS at 10k, establishment
//   options: --rounds N  --out FILE  --check (exit 1 below the floor, also in a full run)
//            --users N[,N]  (scenario 7: the storm's sizes, default 1000,5000; the 5k storm takes
//            3 rounds unless --rounds is given)
//            --profile (servers run with --cpu-prof into ops/bench/results/profiles;
//            `tsx ops/bench/profile-top.ts FILE` prints the top frames)
//            --node-arg=FLAG (repeatable: a Node/V8 option for every server of the run, both
//            sides alike, e.g. --node-arg=--max-semi-space-size=32)
//   npm run bench -- --against REV [--new REV] [echo echo-json walker relay]
//                                        Switchboard from two trees instead, old against new (ab.ts)
//
// Switchboard runs with its defaults except: LOG_LEVEL=warn, the per-connection frame budget
// raised (WS_FRAMES_PER_SEC/WS_FRAME_BURST: 10 frames in flight would hit the flood limit),
// CHAT_MSG_PER_MIN raised (the relay sends thousands per user), and the connection caps raised
// (MAX_CONNECTIONS/MAX_CONNECTIONS_PER_IP: the idle scenario holds 19k). docs/bench.md has results.
//
// Everything runs compiled, as in production (the image runs tsc's output, not tsx): the run
// starts by building the service, the servers and the load generator into a temporary
// directory laid out like the image (dist/, src/web/, node_modules linked).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Job, Window } from './loadgen.ts'
import { inTurn, median } from './lib/stats.ts'
import { alternate, at, benchLock, buildTree, CLIENT_CORE, conditions, fmt, log, ms, once as onceFrom, removeBuild, root, SERVER_CORE, SWITCHBOARD_ENV, waitForQuiet, writeResult, type Build, type Server, type ServerKind } from './lib/harness.ts'
import { compareRuns, describeRate, saturationSpecs, TIMING, type RateResult, type SaturationSpec } from './lib/saturation.ts'
import { SIO_PATH } from './lib/sio.ts'
import { abMain, isAbRun } from './ab.ts'

const argv = process.argv.slice(2)
/** `--against REV`: an A/B run of two trees (ab.ts), which reads its own options. */
const AB = isAbRun(argv)

const { values: flags, positionals } = parseArgs({
  args: AB ? [] : argv,
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    out: { type: 'string' },
    profile: { type: 'boolean', default: false },
    users: { type: 'string' },
    'node-arg': { type: 'string', multiple: true }
  }
})
const QUICK = flags.quick
const ROUNDS = Number(flags.rounds ?? (QUICK ? 1 : 5))
/** A ratio is a failure in --quick/--check only below this share of its target. */
const FLOOR = 0.7

/** The compiled tree every process runs from; made by buildTree() in main. */
let tree: Build | undefined

/** Start a server from the tree, run one job against it, stop it: every measurement on a fresh process. */
function once<R>(kind: ServerKind, job: (s: Server) => Job, env: Record<string, string> = {}): Promise<R & { server: ServerKind }> {
  return onceFrom<R>(tree!, kind, job, { loadgen: tree!, env, nodeArgs: flags['node-arg'] ?? [], ...(flags.profile ? { profile: kind } : {}) })
}

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
  /** The baseline is this peer (its own table), not raw `ws`. */
  peer?: string
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

// ------------------------------------------------------------------ saturation scenarios

async function saturation(spec: SaturationSpec): Promise<Row> {
  log(`\n${spec.scenario}`)
  const [base, sb] = await alternate(spec.id,
    { name: 'baseline', run: () => once<RateResult>(spec.baseline, spec.baseJob) },
    { name: 'switchboard', run: () => once<RateResult>('switchboard', spec.sbJob) },
    describeRate,
    QUICK ? Math.max(spec.quickRounds ?? 1, ROUNDS) : ROUNDS)
  const c = compareRuns({ name: 'baseline', runs: base }, { name: 'switchboard', runs: sb })
  return rateRow(spec, c, [...(spec.note ? [spec.note] : []), ...c.notes])
}

/** A throughput row: baseline (or peer) against Switchboard as compareRuns saw them, judged against `target`. */
function rateRow(spec: { id: string; scenario: string; unit: string; target: number }, c: ReturnType<typeof compareRuns>, notes: string[], peer?: string): Row {
  return judge({
    id: spec.id,
    ...(peer ? { peer } : {}),
    scenario: spec.scenario,
    metric: spec.unit,
    baseline: Math.round(c.a.rate),
    switchboard: Math.round(c.b.rate),
    ratio: c.ratio,
    perCpuRatio: c.perCpuRatio,
    target: { op: '>=', value: spec.target },
    cpu: c.cpu,
    latency: c.latency,
    notes
  })
}

const SPECS = saturationSpecs(QUICK ? TIMING.quick : TIMING.full)
const echo = () => saturation(SPECS.echo)
const echoJson = () => saturation(SPECS['echo-json'])
const walker = () => saturation(SPECS.walker)
const relay = () => saturation(SPECS.relay)
const connectRate = () => saturation(SPECS.connect).then((row) => {
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
  // Quick mode's p99 is the 100th-worst of 10,000: fewer samples made it a handful of hiccups.
  const samples = QUICK ? { warmup: 3000, samples: 10_000 } : { warmup: 3000, samples: 30_000 }
  const [base, sb] = await alternate('5 latency',
    { name: 'baseline', run: () => once<LatencyResult>('raw-echo', (s) => ({ kind: 'latency', ...at(s), path: '/', ...samples })) },
    { name: 'switchboard', run: () => once<LatencyResult>('switchboard', (s) => ({ kind: 'latency', ...at(s), path: '/ws', greeting: 'WELCOME', ...samples })) },
    (r) => `p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms  cores ${r.window.coreBusyPct.join('/')} %`,
    // One round's p99 is one scheduling hiccup away from double: quick mode takes five short ones
    // (three failed CI on a noisy EPYC, 2026-12-07: rounds 2.75, 1.22, 1.89, while a full run on
    // the same tree and machine gave 0.94 and the tree before it 1.00).
    QUICK ? Math.max(5, ROUNDS) : ROUNDS)
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
    const [base, sb] = await alternate('6 idle',
      { name: 'baseline', run: () => measure('raw-echo', '/') },
      { name: 'switchboard', run: () => measure('switchboard', '/ws') },
      (r) => r.steps.map((st) => `${st.connections} conns: RSS ${mb(st.rss)} MB (${fmt(st.rssPerConn)} B/conn), heap ${fmt(st.heapPerConn)} B/conn`).join('; '),
      ROUNDS)
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
  /** floor: the loadgen's delta mode against servers/storm-floor.ts. */
  mode: 'full' | 'delta' | 'naive' | 'floor'
  aborted?: string
  serverCpuS: number
  serverCpuToCompleteS: number
  bytesSent: number
  completeMs: number
  afterLastHelloMs: number
  exactLists: number
  acked: number
  /** Connections the server ended during the storm (slow reader, unanswered ping). */
  ended: number
  window: Window
}

type StormMode = StormResult['mode']

/** The bytes floor's server (servers/storm-floor.ts); harness.ts's ServerKind does not list it. */
const STORM_FLOOR = 'storm-floor' as string as ServerKind

function stormRun(mode: StormMode, users: number, limits: { timeoutS: number; rssLimitMb: number }): Promise<StormResult> {
  const kind = mode === 'naive' ? 'naive-presence' : mode === 'floor' ? STORM_FLOOR : 'switchboard'
  // The floor's clients are the delta mode's (HELLO with presence_delta, the same checks); its result says floor.
  return once<StormResult>(kind, (s) => ({
    kind: 'storm', ...at(s), mode: mode === 'floor' ? 'delta' : mode, users, spreadS: STORM_SPREAD_S, path: kind === 'switchboard' ? '/ws' : '/', ...limits
  }), kind === 'switchboard' ? STORM_HEARTBEAT : {}).then((r) => ({ ...r, mode }))
}

/**
 * The storm measures what presence costs the server, and the floor has no heartbeat. Where the
 * one-core load generator takes longer than a ping's timeout to read its share of 2.3 GB (34 s
 * on one EPYC), Switchboard's 30 s / 10 s heartbeat would end the connections read last (the
 * pings wait behind their lists), and no list could be exact; so the storm's pings are spaced
 * past its length. The run line reports any connection the server ended all the same.
 */
const STORM_HEARTBEAT = { WS_PING_INTERVAL: '300', WS_PING_TIMEOUT: '240' }

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
    `complete after ${fmt(r.completeMs)} ms  exact lists ${r.exactLists}/${r.users}  load generator CPU ${((r.window.clientCpuPct * r.window.seconds) / 100).toFixed(2)} s${r.ended ? `  ended by the server: ${r.ended}` : ''}${r.aborted ? `  [stopped: ${r.aborted}]` : ''}`
}

/** The storm's sizes: --users, else 1k and 5k (the quick mode's 500). */
function stormSizes(): number[] {
  if (flags.users) return flags.users.split(',').map((n) => Number(n))
  return QUICK ? [QUICK_STORM_USERS] : [1000, 5000]
}

/**
 * Scenario 7. Full and delta mode alternate within every round, and so do delta mode and the
 * bytes floor (servers/storm-floor.ts: the same bytes to the same clients, nothing else; issue
 * 17 target 4): a round runs full, delta, floor, the next floor, delta, full. The naive baseline cannot
 * finish at the sizes the issue names (1k users: ~28 GB to send, 5k: ~3.5 TB; it buffers what
 * its clients cannot read yet): it runs once until a cap, which gives a lower bound on its
 * cost, and its CPU per byte sent until then, times the bytes it would have to send, estimates
 * the whole. The quick mode's 500 users it finishes.
 */
async function storm(): Promise<Row[]> {
  const rows: Row[] = []
  for (const users of stormSizes()) {
    log(`\n7. presence join storm, ${users} users HELLO within ${STORM_SPREAD_S} s: full and delta mode, the bytes floor, naive baseline`)
    const results: Record<'full' | 'delta' | 'floor', StormResult[]> = { full: [], delta: [], floor: [] }
    // A 5k storm takes about 80 s a round (three runs): three rounds keep a full run in 15 minutes.
    const rounds = users >= 5000 && flags.rounds === undefined ? Math.min(ROUNDS, 3) : ROUNDS
    for (let round = 0; round < rounds; round++) {
      for (const mode of inTurn(['full', 'delta', 'floor'] as const, round)) {
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
    rows.push(floorRow(users, results.delta, results.floor))
    rows.push(judge({
      id: `7 storm ${users} exact`,
      scenario: `7. join storm, ${users} users: clients ending with the exact list (full, delta)`,
      metric: 'clients',
      baseline: `${naive.exactLists}/${users}${stopped ? ' (stopped)' : ''}`,
      switchboard: `${m(results.full, (r) => r.exactLists)}/${users}, ${m(results.delta, (r) => r.exactLists)}/${users}`,
      ratio: Math.min(...[...results.full, ...results.delta].map((r) => r.exactLists)) / users,
      target: { op: '>=', value: 1, what: 'every run, every client', strict: true },
      notes: [`the bytes floor: ${Math.min(...results.floor.map((r) => r.exactLists))}/${users} in its worst run`]
    }))
  }
  return rows
}

/** The 1.25× is judged at the size the issue names; smaller storms are mostly per-HELLO costs. */
const FLOOR_TARGET_USERS = 5000

/**
 * Delta mode against the bytes floor: Switchboard's server CPU ÷ the floor's, medians over the
 * rounds (lower is better). Each round's own ratio is in the notes, and the bytes each side
 * sent: the floor's are the delta mode's but for frame boundaries (when each joiner's deltas go).
 */
function floorRow(users: number, delta: StormResult[], floor: StormResult[]): Row {
  const m = (rs: StormResult[], f: (r: StormResult) => number) => median(rs.map(f))
  const cpu = (rs: StormResult[]) => m(rs, (r) => r.serverCpuS)
  const exact = [...delta, ...floor].every((r) => r.exactLists === users && r.aborted === undefined)
  // The load generator's CPU against the window's length shows whether its core was the limit
  // (at 5k users it is: both sides' lists complete when it has read 2.33 GB).
  const client = (r: StormResult) => (r.window.clientCpuPct * r.window.seconds) / 100
  const side = (rs: StormResult[]) => `CPU ${cpu(rs).toFixed(2)} s (kernel ${m(rs, (r) => r.window.serverSysS).toFixed(2)} s, to complete ${m(rs, (r) => r.serverCpuToCompleteS).toFixed(2)} s), ` +
    `${(m(rs, (r) => r.bytesSent) / 1e9).toFixed(3)} GB, complete after ${fmt(m(rs, (r) => r.completeMs))} ms, load generator CPU ${m(rs, client).toFixed(2)} s`
  const row = judge({
    id: `7 storm ${users} floor`,
    scenario: `7. join storm, ${users} users: server CPU, delta mode vs the bytes floor`,
    metric: 'CPU s',
    baseline: cpu(floor).toFixed(2),
    switchboard: cpu(delta).toFixed(2),
    ratio: cpu(delta) / cpu(floor),
    ...(users >= FLOOR_TARGET_USERS ? { target: { op: '<=' as const, value: 1.25, what: 'delta ÷ floor CPU' } } : {}),
    notes: [`floor: ${side(floor)}`, `delta: ${side(delta)}`,
      `rounds' delta ÷ floor: ${floor.map((f, i) => (delta[i]!.serverCpuS / f.serverCpuS).toFixed(2)).join(', ')}`,
      `user-space CPU delta ÷ floor ${(m(delta, (r) => r.serverCpuS - r.window.serverSysS) / m(floor, (r) => r.serverCpuS - r.window.serverSysS)).toFixed(2)}`,
      exact ? 'every client of every run ended with the exact list' : 'NOT every client ended with the exact list: the comparison does not hold']
  })
  if (!exact && row.target) {
    row.met = false
    row.aboveFloor = false
  }
  return row
}


// ------------------------------------------------------------------ Socket.IO 4 as a peer (issue 17, target 5)

const SIO = 'Socket.IO 4'
/** Full mode: before each run, wait (at most this long) until both cores are idle. */
const PEER_QUIET_S = 15
const peerQuiet = { waitedS: 0, notQuiet: 0 }

/** CPU % that processes other than the server took on the server's core during a window. */
const othersOnServerCore = (w: Window) => Math.max(0, (w.coreBusyPct[0] ?? 0) - w.serverCpuPct)

/**
 * One measurement of a peer row. Other helpers' tests share this machine: a full run first
 * waits for quiet cores (not the CI gate, which runs alone), and every run's window records
 * how much of core 0 others took.
 */
async function peerOnce<R>(kind: ServerKind, job: (s: Server) => Job, env: Record<string, string> = {}): Promise<R & { server: ServerKind }> {
  if (!QUICK) {
    const w = await waitForQuiet(PEER_QUIET_S)
    peerQuiet.waitedS += w.waitedS
    if (!w.quiet) peerQuiet.notQuiet++
  }
  return once<R>(kind, job, env)
}

const others = (rs: { window: Window }[]) => {
  const xs = rs.map((r) => othersOnServerCore(r.window))
  return `others on core ${SERVER_CORE}: median ${fmt(median(xs))} %, max ${fmt(Math.max(...xs))} %`
}

interface RelayRun extends RateResult {
  deliveredRate: number
}

const SIO_NOTE = 'Socket.IO: websocket transport only, defaults otherwise; its relay emits to the recipient\'s room and acks, with no validation, sanitizing or dedupe (Switchboard does all three)'

/** Throughput rows: Switchboard (sbJob) against the peer (peerJob), compared as the raw-ws rows are. */
async function peerRate(spec: { id: string; scenario: string; unit: string; target: number; note: string; peerJob: (s: Server) => Job; sbJob: (s: Server) => Job; quickRounds: number }): Promise<Row> {
  log(`\n${spec.scenario}`)
  const describe = (r: RateResult) => `${describeRate(r)}  others ${fmt(othersOnServerCore(r.window))} %`
  const [peer, sb] = await alternate(spec.id,
    { name: 'socketio', run: () => peerOnce<RateResult>('socketio-relay', spec.peerJob) },
    { name: 'switchboard', run: () => peerOnce<RateResult>('switchboard', spec.sbJob) },
    describe,
    QUICK ? Math.max(spec.quickRounds, ROUNDS) : ROUNDS)
  const c = compareRuns({ name: SIO, runs: peer }, { name: 'Switchboard', runs: sb })
  // Where a side's time goes: server CPU per operation, and the kernel's share of it (writev, accept, close).
  const cost = (k: typeof c.a) => {
    const us = 1e6 / k.perCpu
    const sys = median(k.kept.map((r) => r.window.serverSysS / r.window.serverCpuS))
    return `${us.toFixed(1)} µs (kernel ${fmt(100 * sys)} %)`
  }
  const notes = [spec.note, ...c.notes, `server CPU per ${spec.unit === 'conns/s' ? 'connection' : spec.unit.replace(/\/s$/, '')}: ${cost(c.a)} · ${cost(c.b)}`, others([...peer, ...sb])]
  // A relay that acked what it did not deliver would win for free: both must deliver every acked MSG.
  const relayed = (rs: RateResult[]) => (rs as RelayRun[]).every((r) => r.deliveredRate !== undefined) ? median((rs as RelayRun[]).map((r) => r.deliveredRate / r.rate)) : undefined
  const [dp, ds] = [relayed(peer), relayed(sb)]
  if (dp !== undefined && ds !== undefined) notes.push(`delivered per acked MSG ${dp.toFixed(3)} · ${ds.toFixed(3)}`)
  return rateRow(spec, c, notes, SIO)
}

/** Round trip of one MSG to its ack, one pair, one in flight: the chat operation itself, unloaded. */
async function peerLatency(timing: { warmupS: number; measureS: number }): Promise<Row> {
  const scenario = 'S2. unloaded MSG → ack round trip p99, 1 pair, 1 in flight'
  log(`\n${scenario}`)
  const job = (server: 'socketio' | 'switchboard') => (s: Server): Job => ({ kind: 'relay', ...at(s), server, pairs: 1, inflight: 1, ...timing })
  const [peer, sb] = await alternate('S2 p99',
    { name: 'socketio', run: () => peerOnce<RateResult>('socketio-relay', job('socketio')) },
    { name: 'switchboard', run: () => peerOnce<RateResult>('switchboard', job('switchboard')) },
    (r) => `p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms  ${fmt(r.rate)} round trips/s  server ${fmt(r.window.serverCpuPct)} %  others ${fmt(othersOnServerCore(r.window))} %`,
    // As scenario 5: one round's p99 is one scheduling hiccup away from double.
    QUICK ? Math.max(3, ROUNDS) : ROUNDS)
  // Paired within each round (its two runs are next to each other), then the median, as scenario 5.
  const paired = (f: (r: RateResult) => number) => median(peer.map((r, i) => f(sb[i]!) / f(r)))
  const m = (rs: RateResult[], f: (r: RateResult) => number) => median(rs.map(f))
  return judge({
    id: 'S2 p99',
    peer: SIO,
    scenario,
    metric: 'p99 ms',
    baseline: ms(m(peer, (r) => r.p99)),
    switchboard: ms(m(sb, (r) => r.p99)),
    ratio: paired((r) => r.p99),
    target: { op: '<=', value: 1 },
    latency: `${ms(m(peer, (r) => r.p50))}/${ms(m(peer, (r) => r.p99))} · ${ms(m(sb, (r) => r.p50))}/${ms(m(sb, (r) => r.p99))}`,
    notes: [`ratio: median of the rounds' Switchboard ÷ ${SIO} p99 (p50: ${paired((r) => r.p50).toFixed(2)}); rounds' p99 ms: ` +
      peer.map((r, i) => `${ms(r.p99)}·${ms(sb[i]!.p99)}`).join(', '), 'a closed loop over the relay job\'s raw client (time from the MSG\'s write to its ack)',
    others([...peer, ...sb])]
  })
}

/** RSS per idle connection (as scenario 6): Socket.IO connected to its main namespace, Switchboard after WELCOME. */
async function peerIdle(): Promise<Row> {
  const n = QUICK ? 5000 : 10_000
  const scenario = `S3. idle connections, ${n / 1000}k: RSS per connection after forced GC`
  log(`\n${scenario}`)
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'))
  const mb = (x: number) => (x / 1024 / 1024).toFixed(1)
  let runs = 0
  const measure = (kind: ServerKind, path: string, socketio: boolean) => {
    const memoryFile = join(dir, `memory-${runs++}.json`)
    return peerOnce<IdleResult>(kind, (s) => ({ kind: 'idle', ...at(s), path, steps: [n], memoryFile, socketio }), { BENCH_MEMORY_FILE: memoryFile })
  }
  try {
    const [peer, sb] = await alternate('S3 idle',
      { name: 'socketio', run: () => measure('socketio-relay', SIO_PATH, true) },
      { name: 'switchboard', run: () => measure('switchboard', '/ws', false) },
      (r) => r.steps.map((st) => `${st.connections} conns: RSS ${mb(st.rss)} MB (${fmt(st.rssPerConn)} B/conn), heap ${fmt(st.heapPerConn)} B/conn, connected in ${st.connectS.toFixed(1)} s`).join('; '),
      ROUNDS)
    const per = (rs: IdleResult[], key: 'rssPerConn' | 'heapPerConn') => median(rs.map((r) => r.steps[0]![key]))
    const total = (rs: IdleResult[]) => median(rs.map((r) => r.steps[0]!.rss))
    const short = peer.concat(sb).filter((r) => r.steps[0]!.connections < n)
    const notes = [`RSS total ${mb(total(peer))} MB · ${mb(total(sb))} MB; heap/conn ${fmt(per(peer, 'heapPerConn'))} B · ${fmt(per(sb, 'heapPerConn'))} B`,
      `${SIO}: Engine.IO open and the main namespace connected (its socket in the room of its id); Switchboard: /ws after WELCOME, before HELLO (as scenario 6)`]
    if (short.length) notes.push(`${short.length} run(s) held fewer than ${n} connections`)
    return judge({
      id: `S3 idle ${n / 1000}k`,
      peer: SIO,
      scenario,
      metric: 'bytes/conn',
      baseline: Math.round(per(peer, 'rssPerConn')),
      switchboard: Math.round(per(sb, 'rssPerConn')),
      ratio: per(sb, 'rssPerConn') / per(peer, 'rssPerConn'),
      target: { op: '<=', value: 0.6 },
      notes
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const PEER_TIMING = QUICK ? TIMING.quick : TIMING.full

const peerRelay = () => peerRate({
    id: 'S1 relay',
    scenario: 'S1. 1:1 relay + ack, 50 pairs × 10 in flight, each user in its own room',
    unit: 'MSG/s',
    target: 2,
    note: `acked MSGs per second, the same pairs, content and message_ids as scenario 4; ${SIO_NOTE}`,
    peerJob: (s) => ({ kind: 'relay', ...at(s), server: 'socketio', pairs: 50, inflight: 10, ...PEER_TIMING }),
    sbJob: SPECS.relay.sbJob,
    quickRounds: 3
  })

const peerConnect = () => peerRate({
    id: 'S4 connect',
    scenario: 'S4. connection establishment, 50 at a time, until the app can send',
    unit: 'conns/s',
    target: 1.5,
    note: `${SIO}: 101, Engine.IO open, namespace connect 40 → 40{sid}; Switchboard: 101 and WELCOME; then RST; p50/p99 are times to established`,
    peerJob: (s) => ({ kind: 'connect', ...at(s), path: SIO_PATH, until: 'socketio', concurrency: 50, ...PEER_TIMING }),
    sbJob: (s) => ({ kind: 'connect', ...at(s), path: '/ws', until: 'welcome', concurrency: 50, ...PEER_TIMING }),
    quickRounds: 1
  })

/** The four rows of the Socket.IO table, or some of them (`socketio-relay` … as scenario names). */
const PEER_ROWS: Record<string, () => Promise<Row>> = {
  'socketio-relay': peerRelay,
  'socketio-p99': () => peerLatency(PEER_TIMING),
  'socketio-idle': peerIdle,
  'socketio-connect': peerConnect
}

async function peerRows(names: string[]): Promise<Row[]> {
  const rows: Row[] = []
  peerQuiet.waitedS = 0
  peerQuiet.notQuiet = 0
  for (const name of names) rows.push(await PEER_ROWS[name]!())
  if (peerQuiet.waitedS >= 1 || peerQuiet.notQuiet) {
    rows.forEach((r) => r.notes.push(`${rows.length > 1 ? `the ${SIO} rows` : 'this row'} waited ${peerQuiet.waitedS.toFixed(0)} s in all for quiet cores${peerQuiet.notQuiet ? `; ${peerQuiet.notQuiet} run(s) started on a busy machine after ${PEER_QUIET_S} s` : ''}`))
  }
  return rows
}

// ------------------------------------------------------------------ main

const SCENARIOS: Record<string, () => Promise<Row | Row[]>> = {
  echo, 'echo-json': echoJson, walker, relay, latency, idle, storm, connect: connectRate,
  socketio: () => peerRows(Object.keys(PEER_ROWS)),
  ...Object.fromEntries(Object.keys(PEER_ROWS).map((name) => [name, () => peerRows([name])]))
}
const BY_NUMBER = ['echo', 'echo-json', 'walker', 'relay', 'latency', 'idle', 'storm', 'connect']

function selected(): string[] {
  if (positionals.length === 0) return BY_NUMBER
  return positionals.map((p) => {
    const name = /^\d$/.test(p) ? BY_NUMBER[Number(p) - 1] : p
    if (!name || !(name in SCENARIOS)) throw new Error(`unknown scenario "${p}": one of ${Object.keys(SCENARIOS).join(', ')} (or 1–8)`)
    return name
  })
}

function table(rows: Row[], baseline = 'raw ws baseline'): string {
  const head = `| scenario | metric | ${baseline} | Switchboard | ratio | target | met | server CPU % (base / SB) | p50/p99 ms (base · SB) | notes |`
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

async function main(): Promise<void> {
  const names = selected()
  await benchLock()
  const started = Date.now()
  const before = conditions()
  log(`switchboard bench: ${names.join(', ')}; ${QUICK ? 'quick, ' : ''}${ROUNDS} round(s); server on core ${SERVER_CORE}, load generator on core ${CLIENT_CORE}`)
  log(`machine: ${before.cpus} × ${before.model}, node ${before.node}, load average ${before.load}`)
  log(`Switchboard env: ${Object.entries(SWITCHBOARD_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  tree = buildTree()
  const rows: Row[] = []
  try {
    for (const name of names) rows.push(...[await SCENARIOS[name]!()].flat())
  } finally {
    removeBuild(tree)
  }
  const after = conditions()
  const minutes = (Date.now() - started) / 60_000
  // One table per baseline: raw `ws` (scenarios 1–8), then each peer's (S1–S4).
  const peers = [...new Set(rows.flatMap((r) => (r.peer ? [r.peer] : [])))]
  const own = rows.filter((r) => !r.peer)
  const text = [...(own.length ? [table(own)] : []), ...peers.map((p) => `Switchboard against ${p}, same run:\n\n${table(rows.filter((r) => r.peer === p), p)}`)].join('\n\n')
  log(`\n${text}\n`)
  log(`${minutes.toFixed(1)} min; load average before ${before.load}, after ${after.load}`)
  const result = {
    date: new Date().toISOString(),
    // As typed, as ab.ts and scale.ts record theirs: every option a run took is in it.
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
    quick: QUICK,
    rounds: ROUNDS,
    machine: { cpus: before.cpus, model: before.model, node: before.node },
    load: { before: before.load, after: after.load },
    minutes,
    switchboardEnv: SWITCHBOARD_ENV,
    rows,
    table: text
  }
  const out = flags.out ?? join(root, 'ops/bench/results', QUICK ? 'quick-latest.json' : `${names.every((n) => n.startsWith('socketio')) ? 'socketio' : 'bench'}-${result.date.replace(/[:.]/g, '-')}.json`)
  writeResult(out, result)
  const failing = rows.filter((r) => r.aboveFloor === false)
  if ((QUICK || flags.check) && failing.length) {
    log(`below the floor (${FLOOR} of target): ${failing.map((r) => r.id).join(', ')}`)
    process.exit(1)
  }
}

await (AB ? abMain(argv) : main())
