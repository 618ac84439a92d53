// MSG relay benchmark (issue 8): throughput and latency of FastChat messages when sender and
// recipient are on the same instance versus on two instances relaying through Redis, at a
// fixed offered load. Each configuration runs on fresh processes (a fresh redis-server too),
// configurations alternate within every round, and the table reports medians over rounds.
//
//   npm run bench:relay -- [--pairs 50] [--rate 20] [--seconds 10] [--rounds 3]
//
// Configurations:
//   memory  one instance, no REDIS_URL (the in-process backplane): the baseline
//   same    two instances over Redis, sender and recipient on instance 1
//   cross   two instances over Redis, sender on instance 1, recipient on instance 2
// Latency is from the sender's write to the recipient's MSG arriving (one clock: both sockets
// live in this process); throughput counts MSGs received per second in the measured window.
// Self-contained on purpose: it spawns its own redis-server and servers (src/server.ts).
import { parseArgs } from 'node:util'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { startServer, type ServerProcess } from '../../test/helpers/process.ts'
import { startRedis, type TestRedis } from '../../test/helpers/redis.ts'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { inTurn } from './lib/stats.ts'

type Config = 'memory' | 'same' | 'cross'

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '50' },
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' }
  }
})
const PAIRS = Number(values.pairs)
const RATE = Number(values.rate) // MSG per second per sender
const SECONDS = Number(values.seconds)
const WARMUP_S = Number(values.warmup)
const ROUNDS = Number(values.rounds)
const TICK_MS = 10

interface Result {
  config: Config
  offered: number
  throughput: number
  p50: number
  p99: number
  failed: number
}

const SERVER_ENV = {
  LOG_LEVEL: 'info', // startServer waits for the "Server listening" line
  CHAT_MSG_PER_MIN: '1000000',
  WS_FRAMES_PER_SEC: '1000000',
  WS_FRAME_BURST: '1000000',
  PRESENCE_DEBOUNCE_MS: '200'
}

/** A connected, identified FastChat user. */
async function user(port: number, name: string): Promise<{ client: WsTestClient; id: string }> {
  const client = await WsTestClient.connect(`ws://127.0.0.1:${port}/ws`)
  const id = randomUUID()
  client.send({ type: 'HELLO', data: { user_id: id, display_name: name } })
  await client.waitFor((m: { type: string }) => m.type === 'HELLO_ACK', { timeout: 10_000 })
  return { client, id }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function run(config: Config): Promise<Result> {
  let redis: TestRedis | undefined
  const servers: ServerProcess[] = []
  const clients: WsTestClient[] = []
  try {
    if (config !== 'memory') redis = await startRedis()
    const env = redis ? { ...SERVER_ENV, REDIS_URL: redis.url } : SERVER_ENV
    servers.push(await startServer(env))
    if (config !== 'memory') servers.push(await startServer(env))
    const senderPort = servers[0]!.port
    const recipientPort = config === 'cross' ? servers[1]!.port : senderPort

    const sent = new Map<string, number>() // message_id → send time
    const latencies: number[] = []
    let received = 0
    let failed = 0
    let measuring = false
    const pairs: { from: { client: WsTestClient; id: string }; to: { client: WsTestClient; id: string } }[] = []
    for (let i = 0; i < PAIRS; i++) {
      const from = await user(senderPort, `Sender ${i}`)
      const to = await user(recipientPort, `Recipient ${i}`)
      clients.push(from.client, to.client)
      from.client.send({ type: 'OPEN_CHAT', data: { target_user_id: to.id, target_display_name: `Recipient ${i}` } })
      await to.client.waitFor((m: { type: string }) => m.type === 'CHAT_OPENED', { timeout: 10_000 })
      // Raw listeners: the benchmark must not buffer frames in the test client's queue.
      to.client.ws.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString())
        if (m.type !== 'MSG') return
        const at = sent.get(m.data.message_id)
        if (at === undefined) return
        sent.delete(m.data.message_id)
        if (!measuring) return
        received++
        latencies.push(performance.now() - at)
      })
      from.client.ws.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString())
        if (m.type === 'ERROR' && measuring) failed++
      })
      pairs.push({ from, to })
    }

    // Open loop: every tick each sender sends what its rate says is due, whatever the replies.
    const started = performance.now()
    const due = (now: number) => Math.floor(((now - started) / 1000) * RATE)
    const counts = new Array<number>(PAIRS).fill(0)
    const end = started + (WARMUP_S + SECONDS) * 1000
    let windowStart = 0
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now()
        if (!measuring && now - started >= WARMUP_S * 1000) {
          measuring = true
          windowStart = now
        }
        if (now >= end) {
          clearInterval(timer)
          resolve()
          return
        }
        const target = due(now)
        for (let p = 0; p < PAIRS; p++) {
          const pair = pairs[p]!
          while (counts[p]! < target) {
            const id = `${p}-${counts[p]!++}`
            sent.set(id, performance.now())
            pair.from.client.send({ type: 'MSG', data: { to: pair.to.id, content: `relay ${id}`, message_id: id } })
          }
        }
      }, TICK_MS)
    })
    const windowMs = performance.now() - windowStart
    measuring = false
    await new Promise((r) => setTimeout(r, 500)) // stragglers are not counted
    latencies.sort((a, b) => a - b)
    return {
      config,
      offered: PAIRS * RATE,
      throughput: received / (windowMs / 1000),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      failed
    }
  } finally {
    for (const c of clients) c.terminate()
    for (const s of servers) {
      s.proc.kill('SIGTERM')
      await s.exited
    }
    await redis?.close()
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

async function main(): Promise<void> {
  const configs: Config[] = ['memory', 'same', 'cross']
  console.log(`relay benchmark: ${PAIRS} pairs × ${RATE} MSG/s = ${PAIRS * RATE} MSG/s offered, ${SECONDS} s measured after ${WARMUP_S} s warm-up, ${ROUNDS} rounds`)
  const results = new Map<Config, Result[]>(configs.map((c) => [c, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const config of inTurn(configs, round)) {
      const r = await run(config)
      results.get(config)!.push(r)
      console.log(`  round ${round + 1} ${config.padEnd(6)} ${r.throughput.toFixed(0).padStart(6)} MSG/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.failed}`)
    }
  }
  const summary = configs.map((config) => {
    const rs = results.get(config)!
    return {
      config,
      throughput: median(rs.map((r) => r.throughput)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      failed: rs.reduce((n, r) => n + r.failed, 0)
    }
  })
  console.log()
  console.log(`| configuration | offered MSG/s | delivered MSG/s (median) | p50 ms (median) | p99 ms (median) | errors (all rounds) |`)
  console.log(`|---|---|---|---|---|---|`)
  for (const s of summary) {
    console.log(`| ${s.config} | ${PAIRS * RATE} | ${s.throughput.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.failed} |`)
  }
  const same = summary.find((s) => s.config === 'same')!
  const cross = summary.find((s) => s.config === 'cross')!
  console.log()
  console.log(`cross / same: throughput ×${(cross.throughput / same.throughput).toFixed(2)}, p50 ×${(cross.p50 / same.p50).toFixed(2)}, p99 ×${(cross.p99 / same.p99).toFixed(2)}`)
}

await main()
