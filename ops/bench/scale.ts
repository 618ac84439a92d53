// Scale across instances on one box (issue 17, target 6): N Switchboard instances over one
// Redis hold many idle FastChat users while messages flow between users on different
// instances. Reports cross-instance delivery latency, loss and duplicates, and what it costs:
// RSS and CPU per instance, Redis CPU, memory and commands per MSG (docs/capacity.md).
//
//   npx tsx ops/bench/scale.ts [--conns 60000] [--instances 4] [--rate 2000] [--seconds 60]
//                              [--pairs 240] [--online N] [--idle-seconds 10] [--warmup 5] [--probe]
//                              [--connect-seconds 33] [--ping-interval S] [--quick] [--out FILE]
//
// --quick: 4 instances × 1,000 connections, 200 MSG/s, 10 s (under a minute).
// --connect-seconds: idle connections open evenly over this long (default 33: just over the 30 s
// heartbeat interval, so the server's heartbeat wheel gets ~1/10 of them per slot).
// --ping-interval S: WS_PING_INTERVAL for the instances (default: the service's 30).
// --probe: each instance also loads lib/scale-probe.ts (event loop delay, GC pauses per second;
// it adds tsx to the instances, so their RSS is not the service's alone).
// --online N: N of the idle connections say HELLO (default 0; with --quick all of them); the
// others stay anonymous WebSocket connections (greeting, heartbeats; no presence, no Redis
// state). Every online user gets the full presence list at HELLO and every later join, so
// bringing N users online moves ~N² × 89 bytes: 6.75 GB for 8,480, ~340 GB for 60k (about 70
// minutes here), which is why the full run's crowd is anonymous (docs/capacity.md).
//
// How: its own redis-server (no persistence, test/helpers/redis.ts) and the built service
// (`node ops/build.mjs`, then `node dist/src/server.js`, as npm start runs it) with history off.
// Load generators (lib/scale-worker.ts): one process per instance holding its idle connections,
// spread over the loopback source addresses of lib/wire.ts (open files are capped at 20,000 per
// process here), and one holding every message pair, sender on one instance and recipient on
// another, so both ends are in one process, latency is one clock's, and no ping burst of the
// idle crowd delays the reads it timestamps. Phases: start → connect (online users HELLO with
// presence_delta and wait for their full PRESENCE) → settle → an idle window (CPU of holding the
// connections) → warm-up → the load window (open loop, every MSG with a unique message_id) →
// drain. Latency and cost per MSG are of the window; lost and duplicated count every message.
// The machine is shared: the run waits until other processes leave the cores alone, and reports
// the CPU they took during the window (`others`), so a disturbed run shows itself.
// Results: a table, and JSON in ops/bench/results/scale-<ISO>.json.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import type { Redis } from 'ioredis'
import { startRedis, type TestRedis } from '../../test/helpers/redis.ts'
import { freePort } from '../../test/helpers/nginx.ts'
import { benchLock, waitForQuiet, conditions, fmt, log, ms, root, SWITCHBOARD_ENV, writeResult } from './lib/harness.ts'
import { coreBusy, coreTimes, percentiles, processCpuSeconds, processRss } from './lib/stats.ts'
import type { OpenReport, RunReport, ToWorker, WorkerSpec } from './lib/scale-worker.ts'

const { values } = parseArgs({
  options: {
    conns: { type: 'string' },
    instances: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    pairs: { type: 'string' },
    'idle-seconds': { type: 'string' },
    warmup: { type: 'string' },
    'connect-seconds': { type: 'string' },
    'ping-interval': { type: 'string' },
    /** A node or V8 option for the instances only (repeatable), e.g. --max-semi-space-size=32. */
    'node-arg': { type: 'string', multiple: true },
    concurrency: { type: 'string', default: '32' },
    probe: { type: 'boolean', default: false },
    online: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' }
  }
})
const quick = values.quick
const num = (v: string | undefined, full: number, small: number) => (v === undefined ? (quick ? small : full) : Number(v))
const INSTANCES = num(values.instances, 4, 4)
const CONNS = num(values.conns, 60_000, 4_000)
const RATE = num(values.rate, 2_000, 200)
const SECONDS = num(values.seconds, 60, 10)
const PAIRS = num(values.pairs, 240, 48)
const IDLE_S = num(values['idle-seconds'], 10, 3)
/** Seconds of load before the measured window: the first MSGs compile the path on every instance. */
const WARMUP_S = num(values.warmup, 5, 2)
/** Idle connections open evenly over this long: at least one heartbeat interval, as arrivals spread in production. */
const CONNECT_S = num(values['connect-seconds'], 33, 0)
const PER_INSTANCE = Math.floor(CONNS / INSTANCES)
const PAIRS_PER_INSTANCE = Math.ceil(PAIRS / INSTANCES)
const IDLE_PER_INSTANCE = PER_INSTANCE - 2 * PAIRS_PER_INSTANCE
const ONLINE = values.online === undefined ? (quick ? IDLE_PER_INSTANCE * INSTANCES : 0) : Number(values.online)
const started = new Date()

// ------------------------------------------------------------------ processes

/** Max open files of a process (soft), from /proc: the box may cap it below what we need. */
function openFilesLimit(pid: number | 'self'): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1])
}


interface Instance {
  port: number
  pid: number
  proc: ChildProcess
  output(): string
}

const probeFile = (port: number) => join(tmpdir(), `switchboard-scale-probe-${port}.jsonl`)

async function startInstance(redisUrl: string): Promise<Instance> {
  const port = await freePort()
  const probe = values.probe ? ['--import', 'tsx', '--import', join(root, 'ops/bench/lib/scale-probe.ts')] : []
  if (values.probe) rmSync(probeFile(port), { force: true })
  const proc = spawn(process.execPath, [...(values['node-arg'] ?? []), ...probe, 'dist/src/server.js'], {
    cwd: root,
    env: {
      ...process.env,
      ...SWITCHBOARD_ENV,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      // Only history connections touch the store; off keeps it out of the measurement entirely.
      HISTORY_STORE: 'off',
      LOG_LEVEL: 'warn',
      MAX_CONNECTIONS: String(PER_INSTANCE + 1_000),
      MAX_CONNECTIONS_PER_IP: '1000000',
      ...(values['ping-interval'] ? { WS_PING_INTERVAL: values['ping-interval'] } : {}),
      ...(values.probe ? { SCALE_PROBE_FILE: probeFile(port) } : {})
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const deadline = Date.now() + 30_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`instance on ${port} exited (${proc.exitCode}):\n${out}`)
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`instance on ${port} not healthy within 30 s:\n${out}`)
    await sleep(100)
  }
  return { port, pid: proc.pid!, proc, output: () => out }
}

async function stopInstance(i: Instance): Promise<void> {
  if (i.proc.exitCode !== null || i.proc.signalCode !== null) return
  // SIGTERM is the service's graceful close (1001 to every socket); SIGKILL if that hangs.
  const kill = setTimeout(() => i.proc.kill('SIGKILL'), 15_000)
  i.proc.kill('SIGTERM')
  await once(i.proc, 'exit')
  clearTimeout(kill)
}

interface Worker {
  proc: ChildProcess
  spec: WorkerSpec
  /** The next report from the worker. */
  next<R>(): Promise<R>
  tell(m: ToWorker): void
}

function startWorker(spec: WorkerSpec): Worker {
  const proc = fork(join(root, 'ops/bench/lib/scale-worker.ts'), [JSON.stringify(spec)], {
    cwd: root,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const queue: unknown[] = []
  const waiting: ((m: unknown) => void)[] = []
  proc.on('message', (m) => (waiting.length ? waiting.shift()!(m) : queue.push(m)))
  proc.once('exit', (code) => {
    for (const w of waiting.splice(0)) w({ kind: 'failed', error: `worker ${spec.index} exited (${code})` })
  })
  return {
    proc,
    spec,
    next<R>() {
      return new Promise<R>((resolve, reject) => {
        const take = (m: unknown) => ((m as { kind: string }).kind === 'failed' ? reject(new Error((m as { error: string }).error)) : resolve(m as R))
        if (queue.length) take(queue.shift())
        else waiting.push(take)
      })
    },
    tell: (m) => proc.send(m)
  }
}

// ------------------------------------------------------------------ readings

type Info = Record<string, string>
async function redisInfo(client: Redis, section: string): Promise<Info> {
  const info: Info = {}
  for (const line of (await client.info(section)).split('\r\n')) {
    const at = line.indexOf(':')
    if (at > 0 && !line.startsWith('#')) info[line.slice(0, at)] = line.slice(at + 1)
  }
  return info
}

/** Calls per command from INFO commandstats (`cmdstat_publish:calls=…,usec=…`). */
async function commandCalls(client: Redis): Promise<Record<string, number>> {
  const calls: Record<string, number> = {}
  for (const [k, v] of Object.entries(await redisInfo(client, 'commandstats'))) calls[k.replace('cmdstat_', '')] = Number(/calls=(\d+)/.exec(v)?.[1])
  return calls
}

interface Reading {
  at: number
  cpu: number[]
  redisCpu: number
  workerCpu: number[]
  self: number
  cores: ReturnType<typeof coreTimes>
  commands: number
  calls: Record<string, number>
}

async function reading(instances: Instance[], redisPid: number, workers: Worker[], client: Redis): Promise<Reading> {
  return {
    at: performance.now(),
    cpu: instances.map((i) => processCpuSeconds(i.pid)),
    redisCpu: processCpuSeconds(redisPid),
    workerCpu: workers.map((w) => processCpuSeconds(w.proc.pid!)),
    self: processCpuSeconds(process.pid),
    cores: coreTimes(),
    commands: Number((await redisInfo(client, 'stats')).total_commands_processed),
    calls: await commandCalls(client)
  }
}

/** CPU % (of one core) per instance, of Redis and of the load generators, between two readings. */
function window(a: Reading, b: Reading) {
  const s = (b.at - a.at) / 1000
  const pct = (x: number, y: number) => (100 * (y - x)) / s
  const calls: Record<string, number> = {}
  for (const [k, v] of Object.entries(b.calls)) if (v - (a.calls[k] ?? 0) > 0) calls[k] = v - (a.calls[k] ?? 0)
  const instanceCpuPct = b.cpu.map((y, i) => pct(a.cpu[i]!, y))
  const redisCpuPct = pct(a.redisCpu, b.redisCpu)
  const loadgenCpuPct = b.workerCpu.map((y, i) => pct(a.workerCpu[i]!, y))
  const coreBusyPct = coreBusy(a.cores, b.cores)
  const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0)
  return {
    seconds: s,
    instanceCpuPct,
    redisCpuPct,
    loadgenCpuPct,
    coreBusyPct,
    /** CPU (% of one core) that neither this bench's processes nor this script took: other work on the box. */
    othersPct: Math.max(0, sum(coreBusyPct) - sum(instanceCpuPct) - redisCpuPct - sum(loadgenCpuPct) - pct(a.self, b.self)),
    redisCommands: b.commands - a.commands,
    redisCalls: calls
  }
}

/** An instance's probe lines within [from, to] (ms since the epoch), summed up. */
function probeSummary(port: number, from: number, to: number) {
  const file = probeFile(port)
  const lines = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { at: number; delayMaxMs: number; delayP99Ms: number; gcMs: number; gcMaxMs: number; gcCount: number }) : []
  const inWindow = lines.filter((l) => l.at > from && l.at <= to + 1000)
  rmSync(file, { force: true })
  return {
    seconds: inWindow.length,
    delayMaxMs: Math.max(0, ...inWindow.map((l) => l.delayMaxMs)),
    secondsOver20: inWindow.filter((l) => l.delayMaxMs > 20).length,
    gcMs: inWindow.reduce((n, l) => n + l.gcMs, 0),
    gcCount: inWindow.reduce((n, l) => n + l.gcCount, 0),
    gcMaxMs: Math.max(0, ...inWindow.map((l) => l.gcMaxMs)),
    perSecond: inWindow.map((l) => ({ second: Math.floor((l.at - from) / 1000), delayMaxMs: l.delayMaxMs, gcMs: l.gcMs, gcMaxMs: l.gcMaxMs }))
  }
}

/** Wait (at most `maxS`) until other processes take under `pct` % of a core for a whole second. */
async function othersQuiet(instances: Instance[], redisPid: number, workers: Worker[], client: Redis, maxS = 180, pct = 15) {
  const t0 = Date.now()
  for (;;) {
    const a = await reading(instances, redisPid, workers, client)
    await sleep(1000)
    const others = window(a, await reading(instances, redisPid, workers, client)).othersPct
    const waitedS = (Date.now() - t0) / 1000
    if (others < pct || waitedS >= maxS) return { waitedS, others }
  }
}

const mb = (bytes: number) => bytes / 1024 / 1024
const t = () => `${fmt((Date.now() - started.getTime()) / 1000)} s`

// ------------------------------------------------------------------ the run

async function main(): Promise<void> {
  log(`scale: ${INSTANCES} instances × ${fmt(PER_INSTANCE)} connections (${fmt(ONLINE)} idle users online), ${fmt(RATE)} MSG/s over ${PAIRS_PER_INSTANCE * INSTANCES} cross-instance pairs for ${SECONDS} s`)
  const limit = openFilesLimit('self')
  if (PER_INSTANCE + 500 > limit) throw new Error(`open files are capped at ${limit} per process: ${fmt(PER_INSTANCE)} connections per instance need more (ulimit -n)`)
  await benchLock()
  const quietBefore = await waitForQuiet(180)
  if (quietBefore.waitedS > 1) log(`  waited ${fmt(quietBefore.waitedS)} s for a quiet machine${quietBefore.quiet ? '' : ' (still busy)'}`)
  const build = spawnSync(process.execPath, ['ops/build.mjs'], { cwd: root, encoding: 'utf8' })
  if (build.status !== 0) throw new Error(`node ops/build.mjs failed:\n${build.stdout}${build.stderr}`)

  let redis: TestRedis | undefined
  const instances: Instance[] = []
  const workers: Worker[] = []
  try {
    redis = await startRedis()
    const client = redis.client()
    const redisPid = Number((await redisInfo(client, 'server')).process_id)
    for (let i = 0; i < INSTANCES; i++) instances.push(await startInstance(redis.url))
    await sleep(1000)
    const base = {
      rss: instances.map((i) => processRss(i.pid)),
      redisMemory: Number((await redisInfo(client, 'memory')).used_memory)
    }
    log(`  [${t()}] started: redis pid ${redisPid} on ${redis.port}, instances ${instances.map((i) => `${i.pid}:${i.port}`).join(' ')}; RSS ${base.rss.map((r) => fmt(mb(r), 0)).join(' / ')} MB`)

    // One worker per instance holding its idle users, and one more holding every pair (both ends).
    const ports = instances.map((i) => i.port)
    const common = { ports, ratePerPair: RATE / (PAIRS_PER_INSTANCE * INSTANCES), seconds: WARMUP_S + SECONDS, concurrency: Number(values.concurrency) }
    for (let w = 0; w < INSTANCES; w++) {
      // Every instance ends with PER_INSTANCE connections: its idle users plus the pair ends on it.
      workers.push(startWorker({ ...common, index: w, idle: { instance: w, count: IDLE_PER_INSTANCE, online: Math.min(IDLE_PER_INSTANCE, Math.ceil(ONLINE / INSTANCES)), spreadS: CONNECT_S }, pairs: [] }))
    }
    // PAIRS_PER_INSTANCE senders on each instance, their recipients spread over the other instances.
    const pairs = Array.from({ length: INSTANCES * PAIRS_PER_INSTANCE }, (_, k) => {
      const from = k % INSTANCES
      return { from, to: (from + 1 + (Math.floor(k / INSTANCES) % (INSTANCES - 1))) % INSTANCES }
    })
    workers.push(startWorker({ ...common, index: INSTANCES, pairs }))
    const t0 = await reading(instances, redisPid, workers, client)
    for (const w of workers) w.tell({ cmd: 'open' })
    const opened = await Promise.all(workers.map((w) => w.next<OpenReport>()))
    const t1 = await reading(instances, redisPid, workers, client)
    const connect = { ...window(t0, t1), perWorker: opened }
    log(`  [${t()}] connected in ${fmt(connect.seconds, 1)} s, ${fmt(mb(opened.reduce((n, o) => n + o.bytesIn, 0)))} MB to the clients: instances CPU ${connect.instanceCpuPct.map((x) => fmt(x)).join(' / ')} %, redis ${fmt(connect.redisCpuPct)} %, load generators ${connect.loadgenCpuPct.map((x) => fmt(x)).join(' / ')} %`)

    await sleep(5000) // the last presence deltas go out
    const health = await Promise.all(instances.map(async (i) => (await (await fetch(`http://127.0.0.1:${i.port}/health`)).json()) as { connections: number }))
    const i0 = await reading(instances, redisPid, workers, client)
    await sleep(IDLE_S * 1000)
    const i1 = await reading(instances, redisPid, workers, client)
    const idleWindow = window(i0, i1)
    const redisMem = await redisInfo(client, 'memory')
    const redisStats = await redisInfo(client, 'stats')
    const idle = {
      connections: health.map((h) => h.connections),
      rss: instances.map((i) => processRss(i.pid)),
      redisMemory: Number(redisMem.used_memory),
      redisRss: Number(redisMem.used_memory_rss),
      pubsubChannels: Number(redisStats.pubsub_channels),
      redisKeys: Number(await client.dbsize()),
      window: idleWindow
    }
    log(`  [${t()}] idle: connections ${idle.connections.map((c) => fmt(c)).join(' / ')}; RSS ${idle.rss.map((r) => fmt(mb(r), 0)).join(' / ')} MB; CPU ${idleWindow.instanceCpuPct.map((x) => fmt(x, 1)).join(' / ')} %; redis ${fmt(mb(idle.redisMemory), 1)} MB, ${fmt(idle.pubsubChannels)} channels`)

    const quiet = await othersQuiet(instances, redisPid, workers, client)
    log(`  [${t()}] load: ${fmt(RATE)} MSG/s, ${WARMUP_S} s warm-up then ${SECONDS} s measured${quiet.waitedS > 2 ? ` (waited ${fmt(quiet.waitedS)} s for other processes)` : ''}`)
    for (const w of workers) w.tell({ cmd: 'run' })
    await sleep(WARMUP_S * 1000)
    const loadStartedAt = Date.now()
    const r0 = await reading(instances, redisPid, workers, client)
    // The window ends when the senders stop; the workers then wait for stragglers.
    await sleep(SECONDS * 1000)
    const opsPerSec = Number((await redisInfo(client, 'stats')).instantaneous_ops_per_sec)
    const r1 = await reading(instances, redisPid, workers, client)
    const ran = await Promise.all(workers.map((w) => w.next<RunReport>()))
    log(`  [${t()}] drained`)
    const load = window(r0, r1)
    const endMem = await redisInfo(client, 'memory')
    const end = { rss: instances.map((i) => processRss(i.pid)), redisMemory: Number(endMem.used_memory), redisRss: Number(endMem.used_memory_rss), redisOpsPerSec: opsPerSec }

    const latencies = Float64Array.from(ran.flatMap((r) => r.latencies.filter((_, i) => r.sentSecond[i]! >= WARMUP_S)))
    const measuredSent = ran.reduce((n, r) => n + r.sentBySecond.slice(WARMUP_S).reduce((a, b) => a + b, 0), 0)
    // Per second of the window (by send time): how many, p99, max, to see whether the tail is steady or bursts.
    const bySecond = new Map<number, number[]>()
    for (const r of ran) r.latencies.forEach((l, i) => {
      const sec = r.sentSecond[i]!
      const list = bySecond.get(sec)
      if (list) list.push(l)
      else bySecond.set(sec, [l])
    })
    const series = [...bySecond.entries()].filter(([second]) => second >= WARMUP_S).sort((a, b) => a[0] - b[0]).map(([second, ls]) => {
      const [p99] = percentiles(Float64Array.from(ls), ls.length, [99])
      return { second: second - WARMUP_S, count: ls.length, p99: p99!, max: Math.max(...ls) }
    })
    const [p50, p95, p99, p999] = percentiles(latencies, latencies.length, [50, 95, 99, 99.9])
    const max = latencies.reduce((m, x) => Math.max(m, x), 0)
    const sent = ran.reduce((n, r) => n + r.sent, 0)
    const delivered = ran.reduce((n, r) => n + r.delivered, 0)
    const errors: Record<string, number> = {}
    for (const r of ran) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v
    const messages = {
      sent,
      delivered,
      lost: sent - delivered,
      duplicated: ran.reduce((n, r) => n + r.duplicated, 0),
      acked: ran.reduce((n, r) => n + r.acked, 0),
      errors,
      closed: ran.reduce((n, r) => n + r.closed, 0),
      measuredSent,
      msgPerSec: measuredSent / load.seconds,
      latencyMs: { p50: p50!, p95: p95!, p99: p99!, p999: p999!, max },
      series
    }
    const probes = values.probe ? instances.map((i) => probeSummary(i.port, loadStartedAt, loadStartedAt + SECONDS * 1000)) : undefined
    const perConn = instances.map((_, i) => (idle.rss[i]! - base.rss[i]!) / idle.connections[i]!)
    const derived = {
      rssPerConnKb: perConn.map((b) => b / 1024),
      redisBytesPerUser: (idle.redisMemory - base.redisMemory) / CONNS,
      redisCommandsPerMsg: load.redisCommands / measuredSent,
      redisCallsPerMsg: Object.fromEntries(Object.entries(load.redisCalls).map(([k, v]) => [k, v / measuredSent]).sort((a, b) => (b[1] as number) - (a[1] as number))),
      // CPU-ms per MSG on the instances together (each MSG is sent through one, received by another).
      instanceCpuMsPerMsg: (10 * load.instanceCpuPct.reduce((a, b) => a + b, 0) * load.seconds) / measuredSent,
      instanceIdleCpuPct: idleWindow.instanceCpuPct,
      redisCpuMsPerMsg: (10 * load.redisCpuPct * load.seconds) / measuredSent
    }

    log('')
    log(`| instance | connections | RSS idle MB | RSS end MB | RSS/conn KB | CPU idle % | CPU load % |`)
    log(`|---|---|---|---|---|---|---|`)
    instances.forEach((_, i) => log(`| ${i + 1} | ${fmt(idle.connections[i]!)} | ${fmt(mb(idle.rss[i]!))} | ${fmt(mb(end.rss[i]!))} | ${fmt(derived.rssPerConnKb[i]!, 1)} | ${fmt(idleWindow.instanceCpuPct[i]!, 1)} | ${fmt(load.instanceCpuPct[i]!, 1)} |`))
    log(`| redis | ${fmt(idle.pubsubChannels)} channels, ${fmt(idle.redisKeys)} keys | ${fmt(mb(idle.redisMemory), 1)} used | ${fmt(mb(end.redisMemory), 1)} used | ${fmt(derived.redisBytesPerUser)} B/user | ${fmt(idleWindow.redisCpuPct, 1)} | ${fmt(load.redisCpuPct, 1)} |`)
    log('')
    log(`MSG: sent ${fmt(sent)} (${fmt(messages.msgPerSec)}/s in the window), delivered ${fmt(delivered)}, lost ${fmt(messages.lost)}, duplicated ${fmt(messages.duplicated)}, acked ${fmt(messages.acked)}, errors ${JSON.stringify(errors)}, closed connections ${messages.closed}`)
    log(`cross-instance delivery ms: p50 ${ms(p50!)}  p95 ${ms(p95!)}  p99 ${ms(p99!)}  p99.9 ${ms(p999!)}  max ${ms(max)}`)
    log(`redis: ${fmt(derived.redisCommandsPerMsg, 1)} commands per MSG, ${fmt(load.redisCommands / load.seconds)} ops/s (instantaneous ${fmt(opsPerSec)}), ${fmt(derived.redisCpuMsPerMsg, 3)} CPU-ms per MSG`)
    log(`instances: ${fmt(derived.instanceCpuMsPerMsg, 3)} CPU-ms per MSG (all instances, idle included); load generators ${load.loadgenCpuPct.map((x) => fmt(x)).join(' / ')} %; cores ${load.coreBusyPct.map((x) => fmt(x)).join(' / ')} %; others ${fmt(load.othersPct)} % of a core${load.othersPct > 20 ? ' (DISTURBED: other processes took CPU during the window)' : ''}`)
    const worst = [...series].sort((a, b) => b.max - a.max).slice(0, 5)
    log(`worst seconds (by max): ${worst.map((x) => `${x.second}s p99 ${ms(x.p99)} max ${ms(x.max)}`).join('; ')}`)
    if (probes) probes.forEach((p, i) => log(`instance ${i + 1} probe: event loop delay max ${ms(p.delayMaxMs)} ms, seconds with delay > 20 ms ${p.secondsOver20}, GC ${fmt(p.gcMs)} ms in ${fmt(p.gcCount)} pauses (longest ${ms(p.gcMaxMs)} ms)`))
    log(`commands per MSG: ${Object.entries(derived.redisCallsPerMsg).slice(0, 10).map(([k, v]) => `${k} ${fmt(v as number, 2)}`).join(', ')}`)

    const stamp = started.toISOString().replace(/[:.]/g, '-')
    writeResult(values.out ?? join(root, `ops/bench/results/scale-${quick ? 'quick-' : ''}${stamp}.json`), {
      when: started.toISOString(),
      command: `npx tsx ops/bench/scale.ts ${process.argv.slice(2).join(' ')}`.trim(),
      machine: conditions(),
      git: spawnSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
      params: { instances: INSTANCES, conns: CONNS, perInstance: PER_INSTANCE, rate: RATE, seconds: SECONDS, warmupS: WARMUP_S, connectS: CONNECT_S, pingInterval: values['ping-interval'] ?? 'default', nodeArgs: values['node-arg'] ?? [], pairs: PAIRS_PER_INSTANCE * INSTANCES, idleSeconds: IDLE_S, online: ONLINE },
      waits: { beforeStart: quietBefore, beforeLoad: quiet },
      base,
      connect,
      idle,
      load: { ...load, end },
      messages,
      derived,
      ...(probes ? { probes } : {})
    })
  } finally {
    for (const w of workers) if (w.proc.connected) w.tell({ cmd: 'exit' })
    await Promise.all(instances.map(stopInstance))
    // The probe writes until its instance exits: remove what it wrote after it was read.
    if (values.probe) for (const i of instances) rmSync(probeFile(i.port), { force: true })
    await redis?.close()
  }
}

await main()
