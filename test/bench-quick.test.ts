// The benchmark's quick mode (ops/bench, issue 9) as a CI gate: Switchboard against raw `ws` in
// the same run, every scenario with short windows. It fails only when a ratio falls below 0.7
// of its target (the bench's own floor), so a noisy shared machine does not break CI but a real
// regression does. It takes about two minutes and both cores, so it runs only when asked:
// CI=true or BENCH_QUICK=1. The second test is the scale bench's quick mode (issue 17, target 6).
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const enabled = process.env.CI === 'true' || process.env.BENCH_QUICK === '1'
const BUDGET_MS = 290_000 // with the scale test (~40 s) and the two paired history tests (~50 s each; the file took 347 s on a slow EPYC), under the 660 s file timeout npm test gives this file

interface Row {
  id: string
  ratio: number
  met?: boolean
  aboveFloor?: boolean
  target?: { op: string; value: number; what?: string }
  checked?: number
}

/**
 * Run a bench script (`ops/bench/<script>`) with `args` and `--out` into a temporary directory
 * the test removes: its exit code, its output, and the results it wrote (undefined when none).
 */
async function runBench<R>(t: { teardown(fn: () => void): void }, script: string, args: string[]): Promise<{ code: number | null; log: string; result: R | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-quick-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'result.json')
  const proc = spawn(process.execPath, ['--import', 'tsx', `ops/bench/${script}`, ...args, '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  proc.stdout.on('data', (d) => (log += d))
  proc.stderr.on('data', (d) => (log += d))
  const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve))
  let result: R | undefined
  try {
    result = JSON.parse(readFileSync(out, 'utf8')) as R
  } catch {
    result = undefined
  }
  return { code, log, result }
}

if (!enabled) console.log('# bench-quick skipped: set CI=true or BENCH_QUICK=1 to run the 2-minute benchmark (npm run bench -- --quick)')

t.test('npm run bench -- --quick: every ratio above 0.7 of its target', { skip: enabled ? false : 'set CI=true or BENCH_QUICK=1 to run it', timeout: BUDGET_MS }, async (t) => {
  t.setTimeout(BUDGET_MS)
  const { code, log, result } = await runBench<{ rows: Row[]; table: string; minutes: number }>(t, 'run.ts', ['--quick'])
  if (!result) {
    t.fail(`the bench wrote no results (exit ${code}):\n${log.slice(-3000)}`)
    return
  }
  t.comment(result.table)
  // About 1.5 minutes on our machines; the bound catches a scenario that hangs or crawls, not
  // a slow machine (the CI machines differ from ours, and this is not a timed test).
  t.ok(result.minutes < 4, `quick mode took ${result.minutes.toFixed(1)} min`)
  for (const row of result.rows.filter((r) => r.target)) {
    const value = row.checked ?? row.ratio
    t.not(row.aboveFloor, false, `${row.id}: ${value.toFixed(2)} (target ${row.target!.what ?? 'ratio'} ${row.target!.op} ${row.target!.value}${row.met ? ', met' : ''})`)
  }
  t.equal(code, 0, `the bench exits 0${code === 0 ? '' : `:\n${log.slice(-3000)}`}`)
})

// Target 6 of issue 17 in small (docs/capacity.md): four instances over their own Redis, the
// instances run as docker-compose.yml runs them. Every MSG delivered exactly once and acked, and
// the cross-instance p99 above 0.7 of the 25 ms target (≤ 35.7 ms). About 40 s.
t.test('npm run bench:scale -- --quick: nothing lost, p99 within the floor', { skip: enabled ? false : 'set CI=true or BENCH_QUICK=1 to run it', timeout: 120_000 }, async (t) => {
  type Scale = { idle: { connections: number[] }; messages: { sent: number; delivered: number; lost: number; duplicated: number; acked: number; errors: Record<string, number>; latencyMs: { p99: number } } }
  const { code, log, result } = await runBench<Scale>(t, 'scale.ts', ['--quick', '--node-arg=--max-semi-space-size=32'])
  t.equal(code, 0, `the scale bench exits 0${code === 0 ? '' : `:\n${log.slice(-3000)}`}`)
  if (!result) {
    t.fail(`the scale bench wrote no results:\n${log.slice(-3000)}`)
    return
  }
  const m = result.messages
  t.same(result.idle.connections, [1000, 1000, 1000, 1000], 'every idle connection held')
  t.ok(m.sent > 0, `${m.sent} MSGs sent`)
  t.same([m.delivered, m.lost, m.duplicated, m.acked, m.errors], [m.sent, 0, 0, m.sent, {}], 'each delivered exactly once and acked, no error')
  t.ok(m.latencyMs.p99 <= 25 / 0.7, `cross-instance p99 ${m.latencyMs.p99.toFixed(1)} ms (target < 25, floor 35.7)`)
})

// Issue 15's relay target measured paired (ops/bench/history.ts --paired): legacy and history pairs
// on one server, loaded in turns. Checks the turns alternate as designed (each cycle one window
// of each set, the order reversed every other cycle), every window carried acked MSGs with no
// error, and the row compares the two. No floor: the ratio is the history bench's to judge. With
// --receipts every recipient confirms each MSG, no connection may close (a failed receipt closes
// its reader), and the relayed receipts must come back, not counted as the senders' acks.
for (const receipts of [false, true]) {
  const args = ['relay', '--paired', '--quick', '--quiet-wait', '5', ...(receipts ? ['--receipts'] : [])]
  t.test(`npm run bench:history -- ${args.slice(0, 3).join(' ')}${receipts ? ' --receipts' : ''}: windows in turns, both sets acked`, { skip: enabled ? false : 'set CI=true or BENCH_QUICK=1 to run it', timeout: 150_000 }, async (t) => {
    type Window = { set: string; replies: number; seconds: number; serverCpuS: number }
    type Paired = { rows: Row[]; runs: { relayPaired: { windows: Window[]; errors: number; closedConnections: number; receipts?: { sent: number; relayed: number } }[] } }
    const { code, log, result } = await runBench<Paired>(t, 'history.ts', args)
    t.equal(code, 0, `the history bench exits 0${code === 0 ? '' : `:\n${log.slice(-3000)}`}`)
    if (!result) {
      t.fail(`the history bench wrote no results:\n${log.slice(-3000)}`)
      return
    }
    const rounds = result.runs.relayPaired
    t.equal(rounds.length, 1, 'one round in quick mode')
    const round = rounds[0]!
    t.same(round.windows.map((w) => w.set), ['off', 'history', 'history', 'off'], 'two cycles, the second in reverse')
    for (const w of round.windows) t.ok(w.replies > 0 && w.serverCpuS > 0 && w.seconds > 0.5, `${w.set}: ${w.replies} acked MSGs in ${w.seconds.toFixed(2)} s`)
    t.equal(round.errors, 0, 'no ERROR replies')
    t.equal(round.closedConnections, 0, 'no connection closed')
    const id = `1 sqlite/off paired${receipts ? ' receipts' : ''}`
    const row = result.rows.find((r) => r.id === id)
    t.ok(row && row.ratio > 0 && Number.isFinite(row.ratio), `the paired row "${id}": ${row?.ratio.toFixed(2)}`)
    if (!receipts) {
      t.equal(round.receipts, undefined, 'no receipts without --receipts')
      return
    }
    // Every MSG acked was delivered first, so its receipt was written; and each receipt written comes
    // back (but a hundredth, for any in flight when the run ends) to its sender as "received".
    const acked = round.windows.reduce((n, w) => n + w.replies, 0)
    const { sent, relayed } = round.receipts ?? { sent: 0, relayed: 0 }
    t.ok(sent >= acked, `${sent} receipts written for ${acked} MSGs acked in the windows`)
    t.ok(relayed >= 0.99 * sent && relayed <= sent, `${relayed} of the ${sent} receipts came back to their senders as "received"`)
  })
}
