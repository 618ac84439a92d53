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
import { median } from './lib/stats.ts'
import { alternate, at, benchLock, buildTree, CLIENT_CORE, conditions, fmt, log, ms, once as onceFrom, removeBuild, root, SERVER_CORE, SWITCHBOARD_ENV, writeResult, type Build, type Server, type ServerKind } from './lib/harness.ts'
import { compareRuns, describeRate, saturationSpecs, TIMING, type RateResult, type SaturationSpec } from './lib/saturation.ts'
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
    profile: { type: 'boolean', default: false }
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
  return onceFrom<R>(tree!, kind, job, { loadgen: tree!, env, ...(flags.profile ? { profile: kind } : {}) })
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
  return judge({
    id: spec.id,
    scenario: spec.scenario,
    metric: spec.unit,
    baseline: Math.round(c.a.rate),
    switchboard: Math.round(c.b.rate),
    ratio: c.ratio,
    perCpuRatio: c.perCpuRatio,
    target: { op: '>=', value: spec.target },
    cpu: c.cpu,
    latency: c.latency,
    notes: [...(spec.note ? [spec.note] : []), ...c.notes]
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
  const samples = QUICK ? { warmup: 3000, samples: 6000 } : { warmup: 3000, samples: 30_000 }
  const [base, sb] = await alternate('5 latency',
    { name: 'baseline', run: () => once<LatencyResult>('raw-echo', (s) => ({ kind: 'latency', ...at(s), path: '/', ...samples })) },
    { name: 'switchboard', run: () => once<LatencyResult>('switchboard', (s) => ({ kind: 'latency', ...at(s), path: '/ws', greeting: 'WELCOME', ...samples })) },
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
  writeResult(out, result)
  const failing = rows.filter((r) => r.aboveFloor === false)
  if ((QUICK || flags.check) && failing.length) {
    log(`below the floor (${FLOOR} of target): ${failing.map((r) => r.id).join(', ')}`)
    process.exit(1)
  }
}

await (AB ? abMain(argv) : main())
