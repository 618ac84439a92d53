// What each layer of a /ws handshake costs (issue 17, connection establishment): the server's CPU
// per connection, layer by layer, from a raw `ws` server to Switchboard's /ws, every layer under
// the same load (run.ts's scenario 8: handshake to the 101, then RST, 50 at a time). Scenario 8
// gives one ratio; this says where the difference goes.
//
//   npm run bench:handshake                 5 rounds: about 5 minutes
//   options: --rounds N  --out FILE  --quiet-wait S (30; 0: off)
//
// Every round starts three fresh servers pinned to core 0 (the load generator on core 1), in an
// order that rotates from round to round: raw-echo.ts, raw-greet.ts and switchboard-layers.ts.
// The last serves the three Switchboard layers, measured in turns within the one process
// (windows of 1.5 s, four cycles a round, every other cycle in reverse order), so that the
// machine's drift, which moves a connection's CPU by a third from one run to the next on a
// shared guest, falls on all three alike. Medians over all windows of a layer:
//   raw ws          servers/raw-echo.ts: the 101 only
//   + greeting      servers/raw-greet.ts: the same, with /ws's WELCOME in the 101's write
//   direct upgrade  servers/switchboard-layers.ts /bench/bare: the service's app: admission, client
//                   address and request id, ws, the greeting by ws.send; no Conn
//   + registry      /bench/registry: opened through the connection registry (Conn, its id, the
//                   heartbeat wheel, listeners, metrics, the close path), a handler that does nothing
//   /ws             the service's own route: + the chat session and the handshake token
// The table: connections per second, the server's CPU µs per connection (user + system), the
// step from the layer above (within one process: the median of the differences between
// neighbouring windows, with a 90 % bootstrap interval; across processes the difference of the
// medians, which the machine's drift moves), and the rate against raw ws (scenario 8 measures
// the last row's ratio its own way: whole runs, alternating with the baseline).
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { at, benchLock, buildTree, CLIENT_CORE, conditions, fmt, log, once, removeBuild, root, SERVER_CORE, SWITCHBOARD_ENV, treeState, waitForQuiet, writeResult, type Build, type ServerKind } from './lib/harness.ts'
import { bootstrapMedian, median } from './lib/stats.ts'
import type { PathWindow } from './loadgen.ts'

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    out: { type: 'string' },
    'quiet-wait': { type: 'string', default: '30' }
  }
})
const ROUNDS = Math.max(1, Number(flags.rounds))
const QUIET_WAIT = Number(flags['quiet-wait'])

interface Layer {
  name: string
  kind: ServerKind
  path: string
  what: string
}

const WARMUP_S = 1.5
const WINDOW_S = 1.5
const CYCLES = 4
const SETTLE_S = 0.3

const LAYERS: Layer[] = [
  { name: 'raw ws', kind: 'raw-echo', path: '/', what: 'ws alone: the 101' },
  { name: '+ greeting', kind: 'raw-greet', path: '/', what: '/ws\'s WELCOME (welcomeFrame) in the 101\'s write' },
  { name: 'direct upgrade', kind: 'switchboard-layers', path: '/bench/bare', what: 'the service\'s app: admission, client address, request id; the greeting by ws.send' },
  { name: '+ registry', kind: 'switchboard-layers', path: '/bench/registry', what: 'Conn, its id, heartbeat wheel, listeners, metrics, the close path' },
  { name: '/ws', kind: 'switchboard-layers', path: '/ws', what: 'the chat session, the handshake token' }
]

let tree: Build

/** One server's layers, measured in turns (loadgen.ts's cycling connect job). */
async function run(kind: ServerKind): Promise<PathWindow[]> {
  if (QUIET_WAIT > 0) await waitForQuiet(QUIET_WAIT)
  const paths = LAYERS.filter((l) => l.kind === kind).map((l) => l.path)
  const env = kind === 'switchboard-layers' ? SWITCHBOARD_ENV : undefined
  const r = await once<{ windows: PathWindow[]; errors: number }>(tree, kind, (s) => ({
    kind: 'connect', ...at(s), path: paths[0]!, concurrency: 50, warmupS: WARMUP_S, measureS: WINDOW_S, cycle: { paths, cycles: CYCLES, settleS: SETTLE_S }
  }), { loadgen: tree, env })
  if (r.errors > 0) throw new Error(`${kind}: ${r.errors} handshakes failed`)
  return r.windows
}

const usPerConn = (w: PathWindow) => (1e6 * w.serverCpuS) / w.opened
const sysPerConn = (w: PathWindow) => (1e6 * w.serverSysS) / w.opened

async function main(): Promise<void> {
  await benchLock()
  const started = Date.now()
  const before = conditions()
  log(`switchboard handshake layers: ${ROUNDS} round(s); server on core ${SERVER_CORE}, load generator on core ${CLIENT_CORE}`)
  log(`machine: ${before.cpus} × ${before.model}, node ${before.node}, load average ${before.load}`)
  const treeAtStart = treeState()
  tree = buildTree()
  const runs = new Map<Layer, PathWindow[]>(LAYERS.map((l) => [l, []]))
  const layerOf = (kind: ServerKind, path: string) => LAYERS.find((l) => l.kind === kind && l.path === path)!
  const kinds = [...new Set(LAYERS.map((l) => l.kind))]
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order, so drift (heat, other load) favours no server.
      for (let i = 0; i < kinds.length; i++) {
        const kind = kinds[(i + round) % kinds.length]!
        for (const w of await run(kind)) {
          runs.get(layerOf(kind, w.path))!.push(w)
          log(`  round ${round + 1} ${kind.padEnd(18)} ${w.path.padEnd(15)} ${fmt(w.opened / w.seconds).padStart(7)}/s  ${fmt(usPerConn(w), 1).padStart(6)} µs CPU/conn (system ${fmt(sysPerConn(w), 1)})`)
        }
      }
    }
  } finally {
    removeBuild(tree)
  }

  const rows = LAYERS.map((l, i) => {
    const ws = runs.get(l)!
    const cpuUs = median(ws.map(usPerConn))
    const above = LAYERS[i - 1]
    const prev = above && runs.get(above)!
    // A layer served by the same process as the one above: the median of the differences between
    // the two layers' windows of one cycle (neighbours, where the machine's drift cancels), with a
    // bootstrap interval. Across processes only the difference of the medians, which drift moves.
    const paired = !!above && above.kind === l.kind
    const diffs = paired ? ws.map((w, j) => usPerConn(w) - usPerConn(prev![j]!)) : []
    const stepUs = !above ? undefined : paired ? median(diffs) : cpuUs - median(prev!.map(usPerConn))
    const stepInterval = paired ? bootstrapMedian(diffs) : undefined
    return { layer: l.name, path: l.path, what: l.what, windows: ws.length, rate: median(ws.map((w) => w.opened / w.seconds)), cpuUs, sysUs: median(ws.map(sysPerConn)), stepUs, stepInterval, paired }
  })
  const raw = rows[0]!
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${fmt(x, 1)}`
  const step = (r: (typeof rows)[number]) =>
    r.stepUs === undefined ? '—' : r.stepInterval ? `${signed(r.stepUs)} µs (paired; 90 % interval ${signed(r.stepInterval[0])} to ${signed(r.stepInterval[1])})` : `${signed(r.stepUs)} µs (separate processes)`
  const lines = [
    '| layer | what it adds | conns/s | server CPU µs per connection (system) | step from the layer above | rate against raw ws |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.layer} (\`${r.path}\`) | ${r.what} | ${fmt(r.rate)} | ${fmt(r.cpuUs, 1)} (${fmt(r.sysUs, 1)}) | ${step(r)} | ${(r.rate / raw.rate).toFixed(2)} |`)
  ]
  const text = lines.join('\n')
  const after = conditions()
  const minutes = (Date.now() - started) / 60_000
  log(`\n${text}\n`)
  log(`${minutes.toFixed(1)} min; load average before ${before.load}, after ${after.load}`)
  const date = new Date().toISOString()
  writeResult(flags.out ?? join(root, 'ops/bench/results', `handshake-layers-${date.replace(/[:.]/g, '-')}.json`), {
    date,
    command: ['npm run bench:handshake', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    tree: treeAtStart,
    rounds: ROUNDS,
    timing: { warmupS: WARMUP_S, windowS: WINDOW_S, cycles: CYCLES, settleS: SETTLE_S },
    machine: { cpus: before.cpus, model: before.model, node: before.node },
    load: { before: before.load, after: after.load },
    minutes,
    switchboardEnv: SWITCHBOARD_ENV,
    rows,
    table: text,
    runs: Object.fromEntries([...runs].map(([l, ws]) => [l.name, ws]))
  })
}

await main()
