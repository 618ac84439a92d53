// FastChat history (SPEC 9) benchmark: what storing every MSG costs the relay, how fast a
// HISTORY page comes back from a large log, and how many bytes a stored message takes.
//
//   npm run bench:history                  relay, HISTORY and storage, 5 rounds: about 12 minutes
//   npm run bench:history -- relay         some scenarios only: relay, history (HISTORY + storage)
//   npm run bench:history -- --quick       short windows, 1 round, a 100 × 100 preload: ~2 minutes
//   options: --rounds N  --out FILE  --profile (servers run with --cpu-prof into
//            ops/bench/results/profiles; `tsx ops/bench/profile-top.ts FILE` prints the top frames)
//            --chats N --per-chat N (the preload's size; 1000 × 1000 by default, 100 × 100 quick)
//            --quiet-wait S (30; 0: off): before every run, wait until both cores have been idle
//            for half a second, at most S seconds (other work on a shared machine)
//            --configs off,sqlite (the relay's configurations to run; rows need both of their pair;
//            `memory`, HISTORY_STORE=memory with history HELLOs, isolates the history path from storage)
//            --paired: the relay's sqlite/off in one server process instead (legacy and history
//            pairs loaded in turns, so a drifting guest's speed falls on both; see relayPaired)
//            --receipts: in the relay, every recipient confirms each MSG (MSG_ACK), as a history
//            client on the SDK's default autoReceipt does: the store then also records a receipt per message
//
// Everything runs as run.ts runs it (ops/bench/lib/harness.ts): the service compiled with tsc,
// every measurement a fresh server process pinned to core 0, the load generator (loadgen.ts, raw
// TCP with pre-built frames) pinned to core 1, configurations alternating within every round
// (the order flips each round), medians over the rounds, one bench at a time (the bench lock).
// The redis-server each Redis configuration starts (test/helpers/redis.ts: private, fresh, no
// persistence) is pinned to core 1 with the load generator: the server keeps its core to itself,
// as it would with Redis on another machine.
//
// 1. Relay + MSG_ACK, 50 pairs × 10 MSGs in flight, both users of a pair online on the server, the
//    loadgen's relay job (run.ts's scenario 4) with history HELLOs or without:
//      off        HISTORY_STORE=off, legacy HELLOs                       the baseline of sqlite
//      sqlite     HISTORY_STORE=sqlite in a fresh DATA_DIR, history HELLOs (every MSG committed before its ack)
//      redis-off  REDIS_URL (a fresh redis-server), HISTORY_STORE=off    the baseline of redis
//      redis      the same, HISTORY_STORE=redis, history HELLOs
//    Acked MSGs per second in the measured window after a warm-up, ack latency p50/p99 (from the
//    MSG's write to its MSG_ACK). Targets: sqlite/off ≥ 0.7, redis/redis-off ≥ 0.6.
// 2. HISTORY of 50 messages from a preloaded store (chats × per-chat messages, written through the
//    store API: openSqliteHistory / RedisHistory), random chat, random before_seq. Readers are a
//    few users (each in chats/READERS chats) saying history HELLOs with the claim whose hash the
//    preload stored. Sequential: one request in flight, the connections taking turns (target p99
//    < 5 ms); then parallel: every connection one in flight (pages/s and latency under load).
// 3. Storage: the SQLite file (db + wal after a checkpoint) per stored message, and Redis's
//    `used_memory` growth per message, both of the preload (~40-byte contents, uuid message ids).
//
// Server environment: run.ts's (SWITCHBOARD_ENV: frame budgets and CHAT_MSG_PER_MIN raised, which
// HISTORY also counts against) plus the store's variables.
import { randomBytes, randomUUID } from 'node:crypto'
import { hashClaim } from '../../src/chat/history.ts'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { startRedis, type TestRedis } from '../../test/helpers/redis.ts'
import { chatId } from '../../src/chat/chats.ts'
import { openSqliteHistory } from '../../src/history/sqlite.ts'
import { RedisHistory } from '../../src/history/redis.ts'
import type { HistoryLimits, HistoryStore } from '../../src/history/store.ts'
import type { HistoryJob, HistoryPhase, HistoryReader, RelayJob, RelayWindow, Window } from './loadgen.ts'
import { bootstrapMedian, inTurn, median } from './lib/stats.ts'
import { at, benchLock, buildTree, CLIENT_CORE, conditions, fmt, log, ms, once, removeBuild, root, SERVER_CORE, SWITCHBOARD_ENV, treeState, waitForQuiet, writeResult, type Build } from './lib/harness.ts'
import { describeRate, summarize, TIMING, type RateResult } from './lib/saturation.ts'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    out: { type: 'string' },
    profile: { type: 'boolean', default: false },
    configs: { type: 'string' },
    'quiet-wait': { type: 'string', default: '30' },
    /** A node or V8 option for the servers (repeatable), as run.ts and ab.ts take it. */
    'node-arg': { type: 'string', multiple: true },
    chats: { type: 'string' },
    'per-chat': { type: 'string' },
    paired: { type: 'boolean', default: false },
    receipts: { type: 'boolean', default: false }
  }
})
const QUICK = flags.quick
const QUIET_WAIT = Number(flags['quiet-wait'])
const ROUNDS = Number(flags.rounds ?? (QUICK ? 1 : 5))
/** Relay windows: run.ts's, a little longer in the full run so SQLite's WAL checkpoints fall inside. */
const RELAY_TIMING = QUICK ? TIMING.quick : { warmupS: 2, measureS: 5 }
/** --receipts: the relay's recipients confirm every MSG; the rows say so. */
const RECEIPTS = flags.receipts
const WITH_RECEIPTS = RECEIPTS ? ', recipients confirming each MSG' : ''
const RECEIPTS_ID = RECEIPTS ? ' receipts' : ''
const CHATS = Number(flags.chats ?? (QUICK ? 100 : 1000))
const PER_CHAT = Number(flags['per-chat'] ?? (QUICK ? 100 : 1000))
/** Users the HISTORY job connects as; chat i belongs to reader i % READERS and a partner of its own. */
const READERS = 10
const PAGE = 50
/** SPEC 9's defaults: the preload fits in one log per chat (PER_CHAT ≤ 1000) and nothing expires. */
const LIMITS: HistoryLimits = { maxPerChat: 1000, ttlS: 604_800 }
const SCENARIOS = ['relay', 'history'] as const
type Scenario = (typeof SCENARIOS)[number]

let tree: Build | undefined
/** Every run's numbers, for the JSON. */
const raw: Record<string, unknown> = {}

// ------------------------------------------------------------------ table rows

interface Row {
  id: string
  scenario: string
  baseline: string
  value: string
  ratio?: number
  /** Ratio per server CPU-second, for throughput rows. */
  perCpuRatio?: number
  target?: { op: '>=' | '<'; value: number; what?: string }
  /** What is held against the target, when it is not the ratio. */
  checked?: number
  met?: boolean
  notes: string[]
}

function judge(row: Row): Row {
  if (!row.target) return row
  const v = row.checked ?? row.ratio!
  row.met = row.target.op === '>=' ? v >= row.target.value : v < row.target.value
  return row
}

function table(rows: Row[]): string {
  const lines = ['| scenario | baseline | value | ratio | target | pass/fail | notes |', '|---|---|---|---|---|---|---|']
  for (const r of rows) {
    const ratio = r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}${r.perCpuRatio !== undefined ? ` (per CPU-s ${r.perCpuRatio.toFixed(2)})` : ''}`
    const target = r.target ? `${r.target.what ? `${r.target.what} ` : ''}${r.target.op} ${r.target.value}` : '—'
    const met = r.met === undefined ? '—' : r.met ? 'pass' : 'FAIL'
    lines.push(`| ${r.scenario} | ${r.baseline} | ${r.value} | ${ratio} | ${target} | ${met} | ${r.notes.join('; ')} |`)
  }
  return lines.join('\n')
}

// ------------------------------------------------------------------ a quiet machine

const quiet = { waitedS: 0, notQuiet: 0 }

/** Before a run: wait (at most --quiet-wait s) until no other work holds either core. */
async function awaitQuiet(): Promise<void> {
  if (QUIET_WAIT <= 0) return
  const w = await waitForQuiet(QUIET_WAIT)
  quiet.waitedS += w.waitedS
  if (!w.quiet) quiet.notQuiet++
}

/** CPU % that processes other than the server took on the server's core during the window (kernel threads included). */
const othersOnServerCore = (w: Window) => Math.max(0, (w.coreBusyPct[0] ?? 0) - w.serverCpuPct)

// ------------------------------------------------------------------ a private Redis on the load's core

interface BenchRedis {
  redis: TestRedis
  pid: number
}

/** A fresh redis-server (test/helpers/redis.ts), moved with all its threads to the load generator's core. */
async function benchRedis(): Promise<BenchRedis> {
  const redis = await startRedis()
  try {
    const info = await redis.client().info('server')
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1])
    const pin = spawnSync('taskset', ['-a', '-pc', CLIENT_CORE, String(pid)], { encoding: 'utf8' })
    if (pin.status !== 0) throw new Error(`taskset redis-server ${pid}: ${pin.stderr}`)
    return { redis, pid }
  } catch (err) {
    await redis.close()
    throw err
  }
}

interface RedisCounters {
  cpuS: number
  /** Calls per command, and the microseconds Redis spent in them. */
  commands: Record<string, { calls: number; usec: number }>
}

async function redisCounters(redis: TestRedis): Promise<RedisCounters> {
  const c = redis.client()
  const cpu = await c.info('cpu')
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0)
  const commands: RedisCounters['commands'] = {}
  for (const m of (await c.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    commands[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) }
  }
  return { cpuS: num('used_cpu_user') + num('used_cpu_sys'), commands }
}

/** Redis's work per acked MSG over a whole run (setup and warm-up included: a few hundred commands against ~10⁵ MSGs). */
function redisPerMsg(a: RedisCounters, b: RedisCounters, msgs: number) {
  const calls = Object.entries(b.commands)
    .map(([k, v]) => [k, (v.calls - (a.commands[k]?.calls ?? 0)) / msgs, (v.usec - (a.commands[k]?.usec ?? 0)) / msgs] as const)
    .filter(([k, perMsg]) => perMsg >= 0.01 && k !== 'info')
    .sort((x, y) => y[1] - x[1])
  return {
    commands: calls.reduce((n, [, c]) => n + c, 0),
    cpuUs: ((b.cpuS - a.cpuS) * 1e6) / msgs,
    byCommand: Object.fromEntries(calls.map(([k, c, us]) => [k, { calls: Number(c.toFixed(3)), us: Number(us.toFixed(2)) }]))
  }
}

async function usedMemory(redis: TestRedis): Promise<number> {
  const info = await redis.client().info('memory')
  return Number(/used_memory:(\d+)/.exec(info)?.[1])
}

// ------------------------------------------------------------------ 1. relay + ack

/** `memory` (HISTORY_STORE=memory, history HELLOs) is for diagnosis only: the history path's cost without storage. */
const ALL_CONFIGS = ['off', 'sqlite', 'redis-off', 'redis', 'memory'] as const
type RelayConfig = (typeof ALL_CONFIGS)[number]
const RELAY_CONFIGS: RelayConfig[] = flags.configs ? flags.configs.split(',').map((c) => {
  if (!(ALL_CONFIGS as readonly string[]).includes(c)) throw new Error(`unknown configuration "${c}": ${ALL_CONFIGS.join(', ')}`)
  return c as RelayConfig
}) : ['off', 'sqlite', 'redis-off', 'redis']

interface RelayResult extends RateResult {
  deliveredRate: number
  /** Bytes the server wrote other than to the load generator's sockets, per acked MSG: SQLite's files, or commands to Redis. */
  otherWritesPerMsg: number
  totalReplies: number
  ackSamples?: number
  badAcks?: number
  redis?: ReturnType<typeof redisPerMsg>
  receipts?: { sent: number; relayed: number }
}

async function relayRun(config: RelayConfig): Promise<RelayResult> {
  let redis: BenchRedis | undefined
  let dir: string | undefined
  try {
    const env: Record<string, string> = {}
    if (config === 'off') env.HISTORY_STORE = 'off'
    if (config === 'memory') env.HISTORY_STORE = 'memory'
    if (config === 'sqlite') {
      dir = mkdtempSync(join(tmpdir(), 'switchboard-history-'))
      Object.assign(env, { HISTORY_STORE: 'sqlite', DATA_DIR: dir })
    }
    if (config === 'redis-off' || config === 'redis') {
      redis = await benchRedis()
      Object.assign(env, { REDIS_URL: redis.redis.url, HISTORY_STORE: config === 'redis' ? 'redis' : 'off' })
    }
    const history = config !== 'off' && config !== 'redis-off'
    const before = redis && (await redisCounters(redis.redis))
    await awaitQuiet()
    const r = await once<RelayResult>(tree!, 'switchboard', (s): RelayJob => ({
      kind: 'relay', ...at(s), server: 'switchboard', pairs: 50, inflight: 10, ...RELAY_TIMING, history, uuidIds: true, receipts: RECEIPTS
    }), { loadgen: tree!, env, nodeArgs: flags['node-arg'] ?? [], ...(flags.profile ? { profile: `history-relay-${config}` } : {}) })
    if (redis) r.redis = redisPerMsg(before!, await redisCounters(redis.redis), r.totalReplies)
    return r
  } finally {
    await redis?.redis.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  }
}

async function relay(): Promise<Row[]> {
  log(`\n1. FastChat relay + MSG_ACK, 50 pairs × 10 in flight${WITH_RECEIPTS}: ${RELAY_CONFIGS.join(', ')} (${RELAY_TIMING.warmupS} s warm-up, ${RELAY_TIMING.measureS} s measured)`)
  const runs = new Map<RelayConfig, RelayResult[]>(RELAY_CONFIGS.map((c) => [c, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const config of inTurn(RELAY_CONFIGS, round)) {
      const r = await relayRun(config)
      runs.get(config)!.push(r)
      const acks = r.badAcks === undefined ? '' : `  acks checked ${r.ackSamples} (bad ${r.badAcks})`
      const writes = `  others on core ${SERVER_CORE} ${fmt(othersOnServerCore(r.window))} %  other writes ${fmt(r.otherWritesPerMsg)} B/MSG`
      const rd = r.redis ? `  redis ${r.redis.commands.toFixed(1)} commands ${fmt(r.redis.cpuUs, 1)} µs CPU /MSG` : ''
      const rc = r.receipts ? `  receipts sent ${r.receipts.sent}, relayed back ${r.receipts.relayed}` : ''
      log(`  1 relay round ${round + 1} ${config.padEnd(9)} ${describeRate(r)}  errors ${r.errors}${acks}${writes}${rd}${rc}`)
    }
  }
  raw.relay = Object.fromEntries(runs)
  const s = new Map(RELAY_CONFIGS.map((c) => [c, summarize(runs.get(c)!)]))
  const cell = (c: RelayConfig) => {
    const x = s.get(c)!
    return `${c}: ${fmt(x.rate)} MSG/s, p50 ${ms(x.p50)} / p99 ${ms(x.p99)} ms, server ${fmt(x.cpu)} % CPU, ${fmt(1e6 / x.perCpu, 1)} µs CPU/MSG`
  }
  const badAcks = (c: RelayConfig) => runs.get(c)!.reduce((n, r) => n + (r.badAcks ?? 0), 0)
  const row = (id: string, base: RelayConfig, b: RelayConfig, target?: number): Row => {
    const x = s.get(base)!
    const y = s.get(b)!
    const notes = [...x.notes.map((n) => `${base}: ${n}`), ...y.notes.map((n) => `${b}: ${n}`)]
    for (const c of [base, b]) {
      if (badAcks(c)) notes.push(`${c}: ${badAcks(c)} sampled acks not "delivered" with chat_id and seq`)
      const rs = runs.get(c)!
      const writes = median(rs.map((r) => r.otherWritesPerMsg))
      if (c === 'sqlite') notes.push(`sqlite: ${fmt(writes)} B written to its files per MSG`)
      if (rs[0]?.redis) {
        notes.push(`${c}: per MSG ${median(rs.map((r) => r.redis!.commands)).toFixed(1)} Redis commands, ${fmt(median(rs.map((r) => r.redis!.cpuUs)), 1)} µs of Redis CPU, ${fmt(writes)} B sent to Redis`)
      }
    }
    const rounds = runs.get(base)!.map((r, i) => (runs.get(b)![i]!.rate / r.rate).toFixed(2))
    notes.push(`rounds' ratios ${rounds.join(', ')}`)
    return judge({
      id: id + RECEIPTS_ID,
      scenario: `1. relay + MSG_ACK, 50 pairs × 10 in flight${WITH_RECEIPTS}: ${b} vs ${base}`,
      baseline: cell(base),
      value: cell(b),
      ratio: y.rate / x.rate,
      perCpuRatio: y.perCpu / x.perCpu,
      ...(target === undefined ? {} : { target: { op: '>=' as const, value: target } }),
      notes
    })
  }
  const rows: Row[] = []
  const has = (...cs: RelayConfig[]) => cs.every((c) => RELAY_CONFIGS.includes(c))
  if (has('off', 'sqlite')) rows.push(row('1 sqlite/off', 'off', 'sqlite', 0.7))
  if (has('redis-off', 'redis')) rows.push(row('1 redis/redis-off', 'redis-off', 'redis', 0.6))
  if (has('off', 'redis')) rows.push(row('1 redis/off', 'off', 'redis'))
  if (has('off', 'memory')) rows.push(row('1 memory/off', 'off', 'memory'))
  return rows
}

/** --paired: windows per round of each set, and their length. */
const PAIRED = { cycles: QUICK ? 2 : 4, settleS: QUICK ? 0.5 : 1, measureS: QUICK ? 1 : 2.5 }

/**
 * --paired: history on and off in one server process (HISTORY_STORE=sqlite), 50 legacy pairs and
 * 50 history pairs loaded in turns (loadgen's RelayJob.paired). A legacy connection on a server
 * with a store costs what it costs with HISTORY_STORE=off (docs/bench.md, "History (SPEC 9)"),
 * so each cycle's two neighbouring windows give one sqlite/off ratio with the machine's drift
 * cancelled; the row is the median over all cycles of all rounds, with a 90 % bootstrap interval.
 */
async function relayPaired(): Promise<Row[]> {
  log(`\n1. FastChat relay + MSG_ACK, paired in one server${WITH_RECEIPTS}: 50 legacy and 50 history pairs in turns (${PAIRED.cycles} cycles of ${PAIRED.measureS} s windows a round)`)
  const ratios: number[] = []
  const perCpu: number[] = []
  const rates = { off: [] as number[], history: [] as number[] }
  const usPerMsg = { off: [] as number[], history: [] as number[] }
  type PairedRound = { windows: RelayWindow[]; errors: number; closedConnections: number; receipts?: { sent: number; relayed: number } }
  const rounds: PairedRound[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-history-'))
    try {
      await awaitQuiet()
      const r = await once<PairedRound>(tree!, 'switchboard', (s): RelayJob => ({
        kind: 'relay', ...at(s), server: 'switchboard', pairs: 50, inflight: 10, warmupS: RELAY_TIMING.warmupS, measureS: PAIRED.measureS,
        uuidIds: true, receipts: RECEIPTS, paired: { cycles: PAIRED.cycles, settleS: PAIRED.settleS }
      }), { loadgen: tree!, env: { HISTORY_STORE: 'sqlite', DATA_DIR: dir }, nodeArgs: flags['node-arg'] ?? [], ...(flags.profile ? { profile: 'history-relay-paired' } : {}) })
      rounds.push(r)
      const cycle: string[] = []
      for (let i = 0; i + 1 < r.windows.length; i += 2) {
        const [x, y] = [r.windows[i]!, r.windows[i + 1]!]
        const off = x.set === 'off' ? x : y
        const hist = x.set === 'off' ? y : x
        const rate = (w: RelayWindow) => w.replies / w.seconds
        ratios.push(rate(hist) / rate(off))
        perCpu.push(hist.replies / hist.serverCpuS / (off.replies / off.serverCpuS))
        cycle.push((rate(hist) / rate(off)).toFixed(2))
        for (const w of [off, hist]) {
          const set = w === off ? 'off' : 'history'
          rates[set].push(rate(w))
          usPerMsg[set].push((1e6 * w.serverCpuS) / w.replies)
        }
      }
      const receipts = r.receipts ? `  receipts sent ${r.receipts.sent}, relayed back ${r.receipts.relayed}` : ''
      log(`  1 relay paired round ${round + 1}  history/off by cycle ${cycle.join(', ')}  errors ${r.errors}${receipts}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  raw.relayPaired = rounds
  const [lo, hi] = bootstrapMedian(ratios)
  const cell = (set: 'off' | 'history') => `${set === 'off' ? 'legacy pairs' : 'history pairs'}: ${fmt(median(rates[set]))} MSG/s, ${fmt(median(usPerMsg[set]), 1)} µs CPU/MSG (window medians)`
  return [judge({
    id: `1 sqlite/off paired${RECEIPTS_ID}`,
    scenario: `1. relay + MSG_ACK, 50 pairs × 10 in flight${WITH_RECEIPTS}: sqlite vs off, paired in one server`,
    baseline: cell('off'),
    value: cell('history'),
    ratio: median(ratios),
    perCpuRatio: median(perCpu),
    target: { op: '>=', value: 0.7 },
    notes: [`median of ${ratios.length} cycles' neighbouring windows, 90 % interval ${lo.toFixed(2)}–${hi.toFixed(2)}`, `errors ${rounds.reduce((n, r) => n + r.errors, 0)}`]
  })]
}

// ------------------------------------------------------------------ 2 and 3. preload, HISTORY, storage

interface Layout {
  readers: (HistoryReader & { partners: string[] })[]
  chats: number
  perChat: number
}

/** READERS readers with their claims; chat i is between reader i % READERS and partner i. */
function layout(chats: number, perChat: number): Layout {
  const readers = Array.from({ length: Math.min(READERS, chats) }, (_, r) => ({
    user_id: randomUUID(), display_name: `Reader ${r}`, claim: randomBytes(18).toString('base64url'), chats: [] as string[], partners: [] as string[]
  }))
  for (let i = 0; i < chats; i++) {
    const reader = readers[i % readers.length]!
    const partner = randomUUID()
    reader.partners.push(partner)
    reader.chats.push(chatId(reader.user_id, partner))
  }
  return { readers, chats, perChat }
}

const FILLER = 'the quick brown fox jumps over the lazy dog, again and again'
/** About 40 bytes, different for every message. */
const content = (chat: number, k: number) => {
  const head = `#${chat}.${k} `
  return head + FILLER.slice(0, 40 - head.length)
}

interface Preloaded {
  messages: number
  seconds: number
}

/**
 * Write the layout's logs through the store API: each message alternately from the reader and
 * the partner, uuid message ids, timestamps a second apart; `batchChats` chats' appends issued in
 * one turn (SQLite commits them in one transaction; ioredis pipelines them). Then both sides'
 * delivered marks at the end (no backlog on HELLO), every user seen, the readers' claim hashes.
 */
async function preload(store: HistoryStore, l: Layout, batchChats: number, progress?: (chatsDone: number) => Promise<void>): Promise<Preloaded> {
  const started = performance.now()
  const t0 = Date.now() - l.perChat * 1000
  let messages = 0
  for (let first = 0; first < l.chats; first += batchChats) {
    const writes: Promise<unknown>[] = []
    for (let i = first; i < Math.min(l.chats, first + batchChats); i++) {
      const reader = l.readers[i % l.readers.length]!
      const partner = reader.partners[Math.floor(i / l.readers.length)]!
      const chat = reader.chats[Math.floor(i / l.readers.length)]!
      for (let k = 0; k < l.perChat; k++) {
        const [from, to] = k % 2 === 0 ? [reader.user_id, partner] : [partner, reader.user_id]
        writes.push(Promise.resolve(store.append({ chat_id: chat, from, to, content: content(i, k), message_id: randomUUID(), timestamp: new Date(t0 + k * 1000).toISOString() })))
      }
      writes.push(Promise.resolve(store.markDelivered(chat, reader.user_id, l.perChat)), Promise.resolve(store.markDelivered(chat, partner, l.perChat)))
      writes.push(Promise.resolve(store.seen(partner, `Partner ${i}`)))
      messages += l.perChat
    }
    await Promise.all(writes)
    await progress?.(Math.min(l.chats, first + batchChats))
  }
  for (const r of l.readers) {
    await store.seen(r.user_id, r.display_name)
    if (!(await store.setClaimHash(r.user_id, hashClaim(r.claim)))) throw new Error('a claim was already set')
  }
  return { messages, seconds: (performance.now() - started) / 1000 }
}

interface HistoryResult {
  sequential: HistoryPhase
  parallel?: HistoryPhase
  closedConnections: number
}

const HISTORY_TIMING = QUICK ? { warmupS: 1, sequentialS: 2, parallelS: 2 } : { warmupS: 1.5, sequentialS: 5, parallelS: 3 }

async function historyRun(store: 'sqlite' | 'redis', l: Layout, env: Record<string, string>): Promise<HistoryResult> {
  await awaitQuiet()
  return once<HistoryResult>(tree!, 'switchboard', (s): HistoryJob => ({
    kind: 'history', ...at(s), readers: l.readers.map(({ partners: _p, ...r }) => r), perChat: l.perChat, limit: PAGE, ...HISTORY_TIMING
  }), { loadgen: tree!, env, nodeArgs: flags['node-arg'] ?? [], ...(flags.profile ? { profile: `history-page-${store}` } : {}) })
}

const describePhase = (p: HistoryPhase) =>
  `${fmt(p.requests)} pages (${fmt(p.rate)}/s)  p50 ${ms(p.p50)} p99 ${ms(p.p99)} max ${ms(p.max)} ms  server ${fmt(p.window.serverCpuPct)} % ` +
  `(${fmt((1e6 * p.window.serverCpuS) / Math.max(1, p.requests))} µs/page)  cores ${p.window.coreBusyPct.join('/')} %` +
  `${p.errors ? `  errors ${p.errors}` : ''}${p.wrong ? `  WRONG ${p.wrong}` : ''}`

async function history(): Promise<Row[]> {
  const l = layout(CHATS, PER_CHAT)
  log(`\n2. HISTORY of ${PAGE} from ${fmt(CHATS)} chats × ${fmt(PER_CHAT)} messages (${READERS} readers, ${CHATS / l.readers.length} chats each); 3. storage`)
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-history-'))
  let redis: BenchRedis | undefined
  try {
    // SQLite: the preload, then the file after a checkpoint (a second connection: the store's own is private).
    const sqlite = openSqliteHistory({ dir, limits: LIMITS })
    const sq = await preload(sqlite, l, 100)
    const checkpoint = new Database(join(dir, 'history.db'))
    checkpoint.pragma('wal_checkpoint(TRUNCATE)')
    checkpoint.close()
    const sqliteBytes = sqlite.fileBytes()
    await sqlite.close()
    log(`  preload sqlite: ${fmt(sq.messages)} messages in ${sq.seconds.toFixed(1)} s (${fmt(sq.messages / sq.seconds)}/s), file ${(sqliteBytes / 1e6).toFixed(1)} MB = ${fmt(sqliteBytes / sq.messages)} B/message`)

    // Redis: its own server, the same layout, used_memory read on the way (a tenth in, and at the end).
    redis = await benchRedis()
    const r = redis.redis
    const noLog = { debug() {}, info() {}, warn() {}, error() {} }
    const store = await RedisHistory.connect({ url: r.url, limits: LIMITS, log: noLog, commandTimeoutMs: 120_000 })
    const base = await usedMemory(r)
    const sample = Math.max(1, Math.round(CHATS / 10))
    let atSample: { messages: number; bytes: number } | undefined
    const rd = await preload(store, l, Math.min(20, sample), async (done) => {
      if (done === sample) atSample = { messages: done * PER_CHAT, bytes: (await usedMemory(r)) - base }
    })
    await store.close()
    const redisBytes = (await usedMemory(r)) - base
    log(`  preload redis: ${fmt(rd.messages)} messages in ${rd.seconds.toFixed(1)} s (${fmt(rd.messages / rd.seconds)}/s), used_memory +${(redisBytes / 1e6).toFixed(1)} MB = ${fmt(redisBytes / rd.messages)} B/message` +
      (atSample ? ` (${fmt(atSample.bytes / atSample.messages)} B/message at ${fmt(atSample.messages)})` : ''))

    const envs = {
      sqlite: { HISTORY_STORE: 'sqlite', DATA_DIR: dir },
      redis: { HISTORY_STORE: 'redis', REDIS_URL: r.url }
    }
    const runs: Record<'sqlite' | 'redis', HistoryResult[]> = { sqlite: [], redis: [] }
    for (let round = 0; round < ROUNDS; round++) {
      for (const store of inTurn(['sqlite', 'redis'] as const, round)) {
        const h = await historyRun(store, l, envs[store])
        runs[store].push(h)
        log(`  2 HISTORY round ${round + 1} ${store.padEnd(6)} sequential ${describePhase(h.sequential)}`)
        if (h.parallel) log(`  2 HISTORY round ${round + 1} ${store.padEnd(6)} parallel   ${describePhase(h.parallel)}`)
      }
    }

    const rows: Row[] = []
    const stored = `${fmt(CHATS)} chats × ${fmt(PER_CHAT)} stored`
    for (const store of ['sqlite', 'redis'] as const) {
      const seq = runs[store].map((h) => h.sequential)
      const p99 = median(seq.map((p) => p.p99))
      const problems = (ps: HistoryPhase[]) => {
        const errors = ps.reduce((n, p) => n + p.errors, 0)
        const wrong = ps.reduce((n, p) => n + p.wrong, 0)
        return [...(errors ? [`${errors} ERROR replies`] : []), ...(wrong ? [`${wrong} replies not the page asked for`] : [])]
      }
      rows.push(judge({
        id: `2 history ${store}`,
        scenario: `2. HISTORY of ${PAGE}, ${store}, ${stored}, one request in flight (${l.readers.length} connections taking turns)`,
        baseline: '—',
        value: `p50 ${ms(median(seq.map((p) => p.p50)))} / p99 ${ms(p99)} ms, max ${ms(Math.max(...seq.map((p) => p.max)))} ms (${fmt(median(seq.map((p) => p.rate)))} pages/s)`,
        target: { op: '<', value: 5, what: 'p99 ms' },
        checked: p99,
        notes: [`medians of ${seq.length} runs' p50/p99, max of all; rounds' p99 ${seq.map((p) => ms(p.p99)).join(', ')}`, ...problems(seq)]
      }))
      const par = runs[store].flatMap((h) => (h.parallel ? [h.parallel] : []))
      if (par.length) {
        rows.push({
          id: `2 history ${store} parallel`,
          scenario: `2. HISTORY of ${PAGE}, ${store}, ${stored}, ${l.readers.length} connections × 1 in flight`,
          baseline: '—',
          value: `${fmt(median(par.map((p) => p.rate)))} pages/s, p50 ${ms(median(par.map((p) => p.p50)))} / p99 ${ms(median(par.map((p) => p.p99)))} ms, server ${fmt(median(par.map((p) => p.window.serverCpuPct)))} % CPU`,
          notes: ['for context: throughput with the server busy', ...problems(par)]
        })
      }
    }
    rows.push({
      id: '3 storage sqlite',
      scenario: `3. storage, SQLite: db + wal after a checkpoint, per stored message (${fmt(sq.messages)} messages, ~40-byte content)`,
      baseline: '—',
      value: `${fmt(sqliteBytes / sq.messages)} B/message (${(sqliteBytes / 1e6).toFixed(1)} MB)`,
      notes: [`preload through the store API: ${fmt(sq.messages / sq.seconds)} appends/s, ${CHATS >= 100 ? 100 : CHATS} chats a transaction`]
    })
    rows.push({
      id: '3 storage redis',
      scenario: `3. storage, Redis: used_memory growth per stored message (${fmt(rd.messages)} messages${atSample ? `; at ${fmt(atSample.messages)}` : ''})`,
      baseline: '—',
      value: `${fmt(redisBytes / rd.messages)} B/message (${(redisBytes / 1e6).toFixed(1)} MB)${atSample ? `; ${fmt(atSample.bytes / atSample.messages)} B/message at ${fmt(atSample.messages)}` : ''}`,
      notes: [`preload through RedisHistory, pipelined: ${fmt(rd.messages / rd.seconds)} appends/s; with the partners' users and the delivered marks`]
    })
    raw.history = { preload: { sqlite: { ...sq, fileBytes: sqliteBytes }, redis: { ...rd, usedMemory: redisBytes, atSample } }, runs }
    return rows
  } finally {
    await redis?.redis.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

// ------------------------------------------------------------------ main

function selected(): Scenario[] {
  if (positionals.length === 0) return [...SCENARIOS]
  return positionals.map((p) => {
    if (!(SCENARIOS as readonly string[]).includes(p)) throw new Error(`unknown scenario "${p}": one of ${SCENARIOS.join(', ')}`)
    return p as Scenario
  })
}

async function main(): Promise<void> {
  const names = selected()
  await benchLock()
  const started = Date.now()
  const before = conditions()
  log(`switchboard history bench: ${names.join(', ')}; ${QUICK ? 'quick, ' : ''}${ROUNDS} round(s); server on core ${SERVER_CORE}, load generator and redis-server on core ${CLIENT_CORE}`)
  log(`machine: ${before.cpus} × ${before.model}, node ${before.node}, load average ${before.load}`)
  log(`Switchboard env: ${Object.entries(SWITCHBOARD_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  const treeAtStart = treeState()
  tree = buildTree()
  const rows: Row[] = []
  try {
    if (names.includes('relay')) rows.push(...(await (flags.paired ? relayPaired() : relay())))
    if (names.includes('history')) rows.push(...(await history()))
  } finally {
    removeBuild(tree)
  }
  const after = conditions()
  const minutes = (Date.now() - started) / 60_000
  if (quiet.waitedS >= 1 || quiet.notQuiet) {
    log(`waited ${quiet.waitedS.toFixed(0)} s in all for quiet cores; ${quiet.notQuiet} run(s) started on a busy machine after ${QUIET_WAIT} s`)
  }
  const text = table(rows)
  log(`\n${text}\n`)
  log(`${minutes.toFixed(1)} min; load average before ${before.load}, after ${after.load}`)
  const date = new Date().toISOString()
  const result = {
    date,
    // As typed (as ab.ts and scale.ts record theirs): --configs, --node-arg and the rest included.
    command: ['npm run bench:history', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    tree: treeAtStart,
    quick: QUICK,
    rounds: ROUNDS,
    preload: { chats: CHATS, perChat: PER_CHAT, readers: READERS, page: PAGE },
    relayTiming: RELAY_TIMING,
    historyTiming: HISTORY_TIMING,
    machine: { cpus: before.cpus, model: before.model, node: before.node },
    load: { before: before.load, after: after.load },
    minutes,
    quiet: { ...quiet, maxWaitS: QUIET_WAIT },
    switchboardEnv: SWITCHBOARD_ENV,
    rows,
    table: text,
    runs: raw
  }
  const out = flags.out ?? join(root, 'ops/bench/results', QUICK ? 'history-quick-latest.json' : `history-${date.replace(/[:.]/g, '-')}.json`)
  writeResult(out, result)
}

await main()
