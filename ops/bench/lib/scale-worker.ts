// One load-generator process of the scale bench (ops/bench/scale.ts), forked with an IPC
// channel: either one instance's idle FastChat users, or the message pairs. Both ends of every
// pair live in the pairs process (the sender on one instance, the recipient on another), so a
// message's latency is read on one clock, from the sender's write to the recipient's read; and
// that process holds nothing else, so answering thousands of idle connections' pings (a burst
// every heartbeat tick) never delays the read it timestamps. One process per instance's idle
// users because the box caps open files at 20,000 per process.
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { connect, maskedFrame, openMany, startsWith, type RawConn, type TextHandler } from './wire.ts'

export interface WorkerSpec {
  index: number
  /** Every instance's port. */
  ports: number[]
  /**
   * Idle users to hold on one instance, of which the first `online` say HELLO, opened evenly over
   * `spreadS` seconds (the server's heartbeat wheel puts a connection in the slot of the moment it
   * joined: a storm shorter than WS_PING_INTERVAL crowds a few slots, and each slot is pinged at once).
   */
  idle?: { instance: number; count: number; online: number; spreadS: number }
  /** Message pairs: the sender on instance `from`, the recipient on instance `to`. */
  pairs: { from: number; to: number }[]
  /** MSG per second per pair. */
  ratePerPair: number
  /** How long to send (warm-up included). */
  seconds: number
  concurrency: number
}

export type ToWorker = { cmd: 'open' } | { cmd: 'run' } | { cmd: 'exit' }

export interface OpenReport {
  kind: 'opened'
  idle: number
  pairs: number
  seconds: number
  /** Bytes the server sent these connections while they opened (mostly PRESENCE). */
  bytesIn: number
}

export interface RunReport {
  kind: 'ran'
  sent: number
  /** Messages that reached their recipient at least once, and the copies beyond the first. */
  delivered: number
  duplicated: number
  /** MSG_ACK `delivered` to the sender, each message counted once. */
  acked: number
  errors: Record<string, number>
  /** Milliseconds from the sender's write to the recipient's read, one per delivered message. */
  latencies: number[]
  /** For each latency, the second of the window its message was sent in. */
  sentSecond: number[]
  /** Messages sent in each second of the window. */
  sentBySecond: number[]
  /** Idle or pair connections the server closed (heartbeat, caps) by the end. */
  closed: number
  sendSeconds: number
}

const P = {
  helloAck: Buffer.from('{"type":"HELLO_ACK"'),
  presence: Buffer.from('{"type":"PRESENCE"'),
  chatOpened: Buffer.from('{"type":"CHAT_OPENED"'),
  msg: Buffer.from('{"type":"MSG",'),
  ack: Buffer.from('{"type":"MSG_ACK"'),
  error: Buffer.from('{"type":"ERROR"')
}
const ignore: TextHandler = () => {}

const spec = JSON.parse(process.argv[2]!) as WorkerSpec
const send = (m: OpenReport | RunReport | { kind: 'failed'; error: string }) => process.send!(m)

/**
 * HELLO on `conn` and resolve at HELLO_ACK, or with `untilPresence` at the full PRESENCE after it:
 * waiting for the list paces the joins by what the server manages to send.
 */
function hello(conn: RawConn, userId: string, name: string, untilPresence: boolean, timeoutMs = 300_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no HELLO_ACK for ${name} within ${timeoutMs} ms`)), timeoutMs)
    let acked = false
    const done = () => {
      clearTimeout(timer)
      conn.onText = ignore
      resolve()
    }
    conn.onText = (_c, buf, s, e) => {
      if (!acked && startsWith(buf, s, e, P.helloAck)) {
        acked = true
        if (!untilPresence) done()
      } else if (acked && startsWith(buf, s, e, P.presence)) {
        done()
      } else if (startsWith(buf, s, e, P.error)) {
        clearTimeout(timer)
        reject(new Error(`HELLO refused: ${buf.toString('utf8', s, Math.min(e, s + 300))}`))
      }
    }
    conn.write(maskedFrame(JSON.stringify({ type: 'HELLO', data: { user_id: userId, display_name: name, capabilities: ['presence_delta'] } })))
  })
}

function until(conn: RawConn, prefix: Buffer, what: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs)
    conn.onText = (_c, buf, s, e) => {
      if (startsWith(buf, s, e, prefix)) {
        clearTimeout(timer)
        conn.onText = ignore
        resolve()
      } else if (startsWith(buf, s, e, P.error)) {
        clearTimeout(timer)
        reject(new Error(`waiting for ${what}: ${buf.toString('utf8', s, Math.min(e, s + 300))}`))
      }
    }
  })
}

interface Pair {
  from: RawConn
  to: RawConn
  toId: string
  /** Send time of message seq (performance.now()), NaN until sent. */
  sentAt: Float64Array
  /** How many times the recipient read message seq, and whether the sender got its ack. */
  seen: Uint8Array
  acked: Uint8Array
  next: number
}

const idle: RawConn[] = []
const pairs: Pair[] = []
const W = spec.index
const capacity = Math.ceil(spec.ratePerPair * spec.seconds) + 16

async function open(): Promise<OpenReport> {
  const t0 = performance.now()
  const { idle: crowd } = spec
  if (crowd) {
    idle.push(...await openMany(crowd.count, spec.concurrency, async (localAddress, i) => {
      const due = t0 + (i * crowd.spreadS * 1000) / crowd.count
      if (performance.now() < due) await new Promise((r) => setTimeout(r, due - performance.now()))
      const conn = await connect({ port: spec.ports[crowd.instance]!, path: '/ws', localAddress }, 120_000)
      conn.onText = ignore
      if (i < crowd.online) await hello(conn, randomUUID(), `Idle ${W}-${i}`, true)
      return conn
    }))
  }
  await openMany(spec.pairs.length, Math.min(16, spec.concurrency), async (localAddress, i) => {
    const from = await connect({ port: spec.ports[spec.pairs[i]!.from]!, path: '/ws', localAddress }, 60_000)
    const to = await connect({ port: spec.ports[spec.pairs[i]!.to]!, path: '/ws', localAddress }, 60_000)
    const toId = randomUUID()
    await hello(to, toId, `Recipient ${W}-${i}`, true)
    await hello(from, randomUUID(), `Sender ${W}-${i}`, true)
    const opened = until(from, P.chatOpened, 'CHAT_OPENED')
    from.write(maskedFrame(JSON.stringify({ type: 'OPEN_CHAT', data: { target_user_id: toId } })))
    await opened
    pairs[i] = { from, to, toId, sentAt: new Float64Array(capacity).fill(NaN), seen: new Uint8Array(capacity), acked: new Uint8Array(capacity), next: 0 }
    return from
  })
  const bytesIn = [...idle, ...pairs.flatMap((p) => [p.from, p.to])].reduce((n, c) => n + c.bytesIn, 0)
  return { kind: 'opened', idle: idle.filter((c) => !c.closed).length, pairs: pairs.length, seconds: (performance.now() - t0) / 1000, bytesIn }
}

const ID_FIELD = Buffer.from('"message_id":"')
const QUOTE = 0x22

/**
 * The pair and seq of the message_id `<worker>.<pair>.<seq>` in buf[s, e), read in place: the
 * load generators share the cores with the servers, so they do not JSON.parse every frame.
 */
function messageId(buf: Buffer, s: number, e: number): [number, number] {
  const at = buf.indexOf(ID_FIELD, s)
  if (at < 0 || at >= e) return [-1, -1]
  const id = buf.toString('latin1', at + ID_FIELD.length, buf.indexOf(QUOTE, at + ID_FIELD.length))
  const a = id.indexOf('.')
  const b = id.indexOf('.', a + 1)
  return [Number(id.slice(a + 1, b)), Number(id.slice(b + 1))]
}

const DELIVERED = Buffer.from('"status":"delivered"')

let started = 0

async function run(): Promise<RunReport> {
  const latencies: number[] = []
  const sentSecond: number[] = []
  const sentBySecond: number[] = []
  const errors: Record<string, number> = {}
  let duplicated = 0
  let acked = 0
  pairs.forEach((pair, p) => {
    pair.to.onText = (_c, buf, s, e) => {
      if (!startsWith(buf, s, e, P.msg)) return
      const at = performance.now()
      const [q, seq] = messageId(buf, s, e)
      const target = pairs[q]
      if (q !== p || !target) return
      if (target.seen[seq]!++ > 0) duplicated++
      else {
        latencies.push(at - target.sentAt[seq]!)
        sentSecond.push(Math.floor((target.sentAt[seq]! - started) / 1000))
      }
    }
    pair.from.onText = (_c, buf, s, e) => {
      if (startsWith(buf, s, e, P.ack)) {
        const [, seq] = messageId(buf, s, e)
        const delivered = buf.indexOf(DELIVERED, s)
        if (seq >= 0 && delivered >= 0 && delivered < e && pair.acked[seq] === 0) {
          pair.acked[seq] = 1
          acked++
        }
      } else if (startsWith(buf, s, e, P.error)) {
        const code = (JSON.parse(buf.toString('utf8', s, e)) as { data: { code: string } }).data.code
        errors[code] = (errors[code] ?? 0) + 1
      }
    }
  })
  // Open loop: each pair sends what its rate says is due, whatever the replies; pairs are
  // phase-shifted over one interval so the load is smooth rather than a burst per tick.
  started = performance.now()
  const end = started + spec.seconds * 1000
  const n = pairs.length
  const sendDue = (now: number) => {
    const elapsed = (Math.min(now, end) - started) / 1000
    for (let p = 0; p < n; p++) {
      const pair = pairs[p]!
      const due = Math.min(capacity, Math.floor(elapsed * spec.ratePerPair + p / n))
      while (pair.next < due) {
        const seq = pair.next++
        const frame = maskedFrame(`{"type":"MSG","data":{"to":"${pair.toId}","content":"scale bench message ${seq}","message_id":"${W}.${p}.${seq}"}}`)
        const at = performance.now()
        pair.sentAt[seq] = at
        const second = Math.floor((at - started) / 1000)
        sentBySecond[second] = (sentBySecond[second] ?? 0) + 1
        pair.from.write(frame)
      }
    }
  }
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now()
      sendDue(now)
      if (now >= end) {
        clearInterval(timer)
        resolve()
      }
    }, 5)
  })
  const sendSeconds = (performance.now() - started) / 1000
  const sent = pairs.reduce((s, p) => s + p.next, 0)
  // Stragglers: wait until every message arrived and was acked, or 10 s.
  const drainUntil = performance.now() + 10_000
  while (performance.now() < drainUntil && (latencies.length < sent || acked < sent)) await new Promise((r) => setTimeout(r, 50))
  const closed = idle.filter((c) => c.closed).length + pairs.filter((p) => p.from.closed || p.to.closed).length
  return { kind: 'ran', sent, delivered: latencies.length, duplicated, acked, errors, latencies, sentSecond, sentBySecond: Array.from(sentBySecond, (n) => n ?? 0), closed, sendSeconds }
}

process.on('message', (m: ToWorker) => {
  const step = m.cmd === 'open' ? open() : m.cmd === 'run' ? run() : undefined
  if (!step) {
    for (const c of idle) c.reset()
    for (const p of pairs) {
      p.from.reset()
      p.to.reset()
    }
    process.exit(0)
  }
  step.then(send, (err: Error) => send({ kind: 'failed', error: err.stack ?? err.message }))
})
