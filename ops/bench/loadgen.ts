// The load generator: one process, pinned by the runner to the core the server is not on. It
// takes one job as JSON on argv, drives one server (its port and pid given), reads that
// server's CPU time from /proc itself at the edges of the measured window, and prints one line
// `BENCH_RESULT {…}`. Raw TCP connections with pre-built masked frames carry the load; the
// latency probe (scenario 5) is a real `ws` client with a timestamp in every payload.
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import { existsSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { connect, connectMany, handshakeRequest, maskedFrame, nextText, repeated, SOURCE_ADDRESSES, startsWith, type RawConn } from './lib/wire.ts'
import { coreBusy, coreTimes, inTurn, percentiles, processCpuTimes, processRss, processWriteBytes, type CoreTimes } from './lib/stats.ts'
import { answerPing, readTextFrames, sioConnect, sioConnectMany, SIO_CONNECT_FRAME, SIO_PATH } from './lib/sio.ts'

export interface Target {
  port: number
  /** The server's pid, for /proc/<pid>/stat. */
  pid: number
}

export interface ThroughputJob extends Target {
  kind: 'throughput'
  path: string
  conns: number
  inflight: number
  payload: string
  /** Wait for this first frame (the greeting) on every connection before loading it. */
  greeting?: string
  /** Only text frames starting with this are replies (others, e.g. server_ping, are skipped). */
  replyPrefix?: string
  warmupS: number
  measureS: number
}

export interface RelayJob extends Target {
  kind: 'relay'
  /** socketio: the Socket.IO peer (servers/socketio-relay.ts), `msg` events with ack callbacks. */
  server: 'switchboard' | 'raw' | 'socketio'
  pairs: number
  inflight: number
  warmupS: number
  measureS: number
  /** Both users of every pair say a history HELLO (SPEC 9: `capabilities: ["history"]`), so every MSG is stored. */
  history?: boolean
  /**
   * message_ids shaped like the FastChat client's (uuid length, in no order: where they land in
   * a store's index matters) instead of short ascending ones.
   */
  uuidIds?: boolean
  /**
   * History on and off in ONE server (HISTORY_STORE set): `pairs` pairs that say legacy HELLOs
   * and `pairs` that say history HELLOs, loaded in turns (windows of measureS after settleS, the
   * order reversed every other cycle), so the machine's drift falls on both alike. Returns the
   * windows instead of one rate.
   */
  paired?: { cycles: number; settleS: number }
  /**
   * Switchboard only: every recipient confirms each MSG it gets with `MSG_ACK {message_id}`, as
   * a history client on the SDK's default autoReceipt does (SPEC 9 stores the receipt); the
   * senders' relayed `received` acks are counted apart, not as replies.
   */
  receipts?: boolean
}

/** One window of a paired relay job: which pairs were loaded, acked MSGs, the server's CPU. */
export interface RelayWindow {
  set: 'off' | 'history'
  replies: number
  seconds: number
  serverCpuS: number
}

/** A user the history job connects as: a history HELLO with its claim, and the chats it may read. */
export interface HistoryReader {
  user_id: string
  display_name: string
  claim: string
  chats: string[]
}

export interface HistoryJob extends Target {
  kind: 'history'
  readers: HistoryReader[]
  /** Every chat's log holds seq 1 … perChat. */
  perChat: number
  /** Messages per HISTORY page. */
  limit: number
  warmupS: number
  /** Measured window of the sequential phase: one request in flight, the connections taking turns. */
  sequentialS: number
  /** Then every connection with one request in flight at once (0: skip). */
  parallelS: number
}

export interface LatencyJob extends Target {
  kind: 'latency'
  path: string
  greeting?: string
  warmup: number
  samples: number
}

export interface IdleJob extends Target {
  kind: 'idle'
  path: string
  steps: number[]
  /** Where the server's memory hook writes (BENCH_MEMORY_FILE). */
  memoryFile: string
  /** Socket.IO connections (lib/sio.ts): Engine.IO open, then connected to the main namespace. */
  socketio?: boolean
}

export interface StormJob extends Target {
  kind: 'storm'
  mode: 'full' | 'delta' | 'naive'
  path: string
  users: number
  spreadS: number
  timeoutS: number
  /** Abort when the server's RSS passes this (the naive server buffers without bound). */
  rssLimitMb: number
}

export interface ConnectJob extends Target {
  kind: 'connect'
  path: string
  /**
   * When a connection counts as established (default: the 101). welcome: the 101 and
   * Switchboard's WELCOME read; socketio: the 101, Engine.IO's open packet read, the namespace
   * connect `40` sent and the server's `40{"sid":…}` read (path: SIO_PATH).
   */
  until?: 'welcome' | 'socketio'
  concurrency: number
  warmupS: number
  measureS: number
  /**
   * Paths of one server measured in turns (handshake-layers.ts): after the warm-up (which visits
   * every path), each cycle gives each path a window of measureS, after settleS for the previous
   * path's handshakes to finish, in reverse order every other cycle; drift over the run then
   * falls on every path alike. Handshakes count at the 101 (no `until`).
   */
  cycle?: { paths: string[]; cycles: number; settleS: number }
}

/** One path's window of a cycling connect job. */
export interface PathWindow {
  path: string
  opened: number
  seconds: number
  serverCpuS: number
  serverSysS: number
}

export type Job = ThroughputJob | RelayJob | LatencyJob | IdleJob | StormJob | ConnectJob | HistoryJob

/** CPU and core readings at one instant; two of them make a window. */
interface Snapshot {
  at: number
  serverCpu: number
  /** Of serverCpu, the kernel's share (system time: mostly TCP). */
  serverSys: number
  clientCpu: number
  cores: CoreTimes
}

function snapshot(pid: number): Snapshot {
  const u = process.cpuUsage()
  const server = processCpuTimes(pid)
  return { at: performance.now(), serverCpu: server.user + server.system, serverSys: server.system, clientCpu: (u.user + u.system) / 1e6, cores: coreTimes() }
}

export interface Window {
  seconds: number
  serverCpuS: number
  /** Of serverCpuS, kernel (system) time. */
  serverSysS: number
  serverCpuPct: number
  clientCpuPct: number
  /** Busy % of every core over the window, whoever used it (other processes included). */
  coreBusyPct: number[]
}

function window(a: Snapshot, b: Snapshot): Window {
  const seconds = (b.at - a.at) / 1000
  return {
    seconds,
    serverCpuS: b.serverCpu - a.serverCpu,
    serverSysS: b.serverSys - a.serverSys,
    serverCpuPct: (100 * (b.serverCpu - a.serverCpu)) / seconds,
    clientCpuPct: (100 * (b.clientCpu - a.clientCpu)) / seconds,
    coreBusyPct: coreBusy(a.cores, b.cores).map((x) => Math.round(x))
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Latency samples in ms, preallocated so recording costs no allocation. */
class Samples {
  readonly xs: Float64Array
  n = 0
  constructor(capacity: number) {
    this.xs = new Float64Array(capacity)
  }
  add(x: number): void {
    if (this.n < this.xs.length) this.xs[this.n++] = x
  }
  p50p99(): [number, number] {
    const [p50, p99] = percentiles(this.xs, this.n, [50, 99])
    return [p50!, p99!]
  }
}

// ------------------------------------------------------------------ closed-loop driver

/** Per connection: `inflight` frames always outstanding; send times in a ring, replies in order. */
interface Loop {
  sentAt: Float64Array
  head: number
  tail: number
  owed: number
}

/** The bytes of `k` frames to write next; the same frame every time unless stamped. */
type Batches = (k: number) => Buffer

function sameFrame(frame: Buffer, inflight: number): Batches {
  const batch = repeated(frame, inflight)
  return (k) => (k === inflight ? batch : batch.subarray(0, k * frame.length))
}

/**
 * Frames that differ only in a counter of fixed width, as FastChat clients give every MSG its
 * own message_id: the masked frame is copied and the counter's digits written into the copy,
 * masked with the frame's mask, so each frame costs a copy and a few byte writes.
 */
function stampedFrames(payload: string, placeholder: string, scrambled = false, everyOccurrence = false): Batches {
  const frame = maskedFrame(payload)
  const offset = (index: number) => frame.length - Buffer.byteLength(payload) + Buffer.byteLength(payload.slice(0, index))
  // everyOccurrence: the same counter in several places (a Socket.IO ack id and the message_id).
  const ats = [offset(payload.indexOf(placeholder))]
  for (let i = payload.indexOf(placeholder, payload.indexOf(placeholder) + 1); everyOccurrence && i !== -1; i = payload.indexOf(placeholder, i + 1)) ats.push(offset(i))
  const maskAt = frame.length - Buffer.byteLength(payload) - 4
  const mask = frame.subarray(maskAt, maskAt + 4)
  const payloadStart = maskAt + 4
  const width = placeholder.length
  let counter = 0
  return (k) => {
    const out = Buffer.allocUnsafe(k * frame.length)
    for (let f = 0; f < k; f++) {
      const base = f * frame.length
      frame.copy(out, base)
      // Scrambled: the counter times an odd constant not divisible by 5, modulo 10^width — a
      // bijection, so ids stay unique but arrive in no order (exact while the product < 2^53).
      const value = scrambled ? (counter++ * 2654435761) % 10 ** width : counter++
      for (const at of ats) {
        let n = value
        for (let i = width - 1; i >= 0; i--) {
          const pos = at + i
          out[base + pos] = (0x30 + (n % 10)) ^ mask[(pos - payloadStart) & 3]!
          n = Math.floor(n / 10)
        }
      }
    }
    return out
  }
}

interface LoopCounters {
  running: boolean
  measuring: boolean
  replies: number
  errors: number
  latency: Samples
}

/** Drive `conn` closed-loop: every reply (per `isReply`) is answered with a fresh frame. */
function drive(conn: RawConn, batches: Batches, inflight: number, counters: LoopCounters, isReply: (buf: Buffer, s: number, e: number) => 'reply' | 'error' | 'skip'): void {
  const loop: Loop = { sentAt: new Float64Array(inflight), head: 0, tail: 0, owed: 0 }
  const send = (k: number) => {
    const t = performance.now()
    for (let i = 0; i < k; i++) {
      loop.sentAt[loop.tail] = t
      loop.tail = (loop.tail + 1) % inflight
    }
    conn.write(batches(k))
  }
  conn.onText = (_c, buf, s, e) => {
    const kind = isReply(buf, s, e)
    if (kind === 'skip') return
    counters.replies++
    if (kind === 'error') counters.errors++
    const sent = loop.sentAt[loop.head]!
    loop.head = (loop.head + 1) % inflight
    if (counters.measuring) counters.latency.add(performance.now() - sent)
    loop.owed++
  }
  conn.onChunkEnd = () => {
    if (loop.owed > 0 && counters.running) {
      send(loop.owed)
      loop.owed = 0
    }
  }
  send(inflight)
}

/** Warm up, then measure: replies per second, server CPU, latency of replies in the window. */
async function measure(pid: number, counters: LoopCounters, warmupS: number, measureS: number, extra: Record<string, () => number> = {}) {
  await sleep(warmupS * 1000)
  const a = snapshot(pid)
  const r0 = counters.replies
  const e0 = counters.errors
  const x0 = Object.fromEntries(Object.entries(extra).map(([k, f]) => [k, f()]))
  counters.measuring = true
  await sleep(measureS * 1000)
  const b = snapshot(pid)
  const x1 = Object.fromEntries(Object.entries(extra).map(([k, f]) => [k, f()]))
  counters.measuring = false
  counters.running = false
  const w = window(a, b)
  const replies = counters.replies - r0
  const [p50, p99] = counters.latency.p50p99()
  return {
    rate: replies / w.seconds,
    perCpuSecond: replies / w.serverCpuS,
    errors: counters.errors - e0,
    /** Per second over the window, of each `extra` counter. */
    extraRates: Object.fromEntries(Object.keys(extra).map((k) => [k, (x1[k]! - x0[k]!) / w.seconds])),
    p50,
    p99,
    window: w
  }
}

async function throughput(job: ThroughputJob) {
  const conns = await connectMany(job.conns, { port: job.port, path: job.path })
  if (job.greeting) await Promise.all(conns.map((c) => nextText(c, (t) => t.startsWith(job.greeting!))))
  const counters: LoopCounters = { running: true, measuring: false, replies: 0, errors: 0, latency: new Samples(4_000_000) }
  const frame = maskedFrame(job.payload)
  const prefix = job.replyPrefix ? Buffer.from(job.replyPrefix) : undefined
  for (const c of conns) drive(c, sameFrame(frame, job.inflight), job.inflight, counters, (buf, s, e) => (!prefix || startsWith(buf, s, e, prefix) ? 'reply' : 'skip'))
  const result = await measure(job.pid, counters, job.warmupS, job.measureS)
  const closed = conns.filter((c) => c.closed).length
  for (const c of conns) c.destroy()
  return { ...result, closedConnections: closed }
}

// ------------------------------------------------------------------ relay with acks

const MSG_PREFIX = Buffer.from('{"type":"MSG",')
const ACK_PREFIX = Buffer.from('{"type":"MSG_ACK"')
const ERROR_PREFIX = Buffer.from('{"type":"ERROR"')
const RECEIVED = Buffer.from('"status":"received"')
const MESSAGE_ID = Buffer.from('"message_id":"')
/** Socket.IO: an event `msg` to the recipient, an ack to the sender (lib/sio.ts). */
const SIO_MSG_PREFIX = Buffer.from('42["msg",')
const SIO_ACK_PREFIX = Buffer.from('43')

/** A FastChat sender's MSG frames and what counts as its reply, for drive(). */
function msgLoad(i: number, target: string, uuidIds: boolean | undefined, onAck: (buf: Buffer, s: number, e: number) => void, onReceipt?: () => void): { batches: Batches; isReply: (buf: Buffer, s: number, e: number) => 'reply' | 'error' | 'skip' } {
  // Every MSG carries its own message_id, as the FastChat client sends them (dedupe is real work).
  const placeholder = uuidIds ? '000000000000' : '0000000000'
  const messageId = uuidIds ? `${randomUUID().slice(0, 24)}${placeholder}` : `m-${i}-${placeholder}`
  const payload = JSON.stringify({ type: 'MSG', data: { to: target, content: 'relay bench message 0123456789', message_id: messageId } })
  return {
    batches: stampedFrames(payload, placeholder, uuidIds),
    isReply: (buf, s, e) => {
      if (startsWith(buf, s, e, ACK_PREFIX)) {
        // A recipient's receipt relayed (RelayJob.receipts): not the server's answer to this MSG.
        if (onReceipt && buf.subarray(s, e).indexOf(RECEIVED) !== -1) {
          onReceipt()
          return 'skip'
        }
        onAck(buf, s, e)
        return 'reply'
      }
      return startsWith(buf, s, e, ERROR_PREFIX) ? 'error' : 'skip'
    }
  }
}

/**
 * RelayJob.receipts: a recipient's reader that confirms every MSG with MSG_ACK {message_id}, the
 * id found by its key rather than a parse (the load generator's core is shared). `onMsg` hears
 * every MSG, `onReceipt` every receipt written.
 */
function confirmer(onMsg: () => void, onReceipt: () => void): (c: RawConn, buf: Buffer, s: number, e: number) => void {
  return (c, buf, s, e) => {
    if (!startsWith(buf, s, e, MSG_PREFIX)) return
    onMsg()
    const at = buf.indexOf(MESSAGE_ID, s)
    if (at === -1 || at >= e) return
    const from = at + MESSAGE_ID.length
    const to = buf.indexOf(0x22, from)
    if (to === -1 || to >= e) return
    c.write(maskedFrame(`{"type":"MSG_ACK","data":{"message_id":"${buf.toString('latin1', from, to)}"}}`))
    onReceipt()
  }
}

/** A Switchboard pair: both users HELLO (history HELLOs when `history`), the sender opens the chat. */
async function switchboardPair(job: RelayJob, i: number, history: boolean): Promise<{ from: RawConn; to: RawConn; toId: string }> {
  const opts = { port: job.port, path: '/ws' }
  const from = await connect({ ...opts, localAddress: SOURCE_ADDRESSES[i % 8] })
  const to = await connect({ ...opts, localAddress: SOURCE_ADDRESSES[(i + 1) % 8] })
  const fromId = randomUUID()
  const toId = randomUUID()
  const capabilities = history ? { capabilities: ['history'] } : {}
  to.write(maskedFrame(JSON.stringify({ type: 'HELLO', data: { user_id: toId, display_name: `Recipient ${i}`, ...capabilities } })))
  await nextText(to, (t) => t.startsWith('{"type":"HELLO_ACK"'))
  from.write(maskedFrame(JSON.stringify({ type: 'HELLO', data: { user_id: fromId, display_name: `Sender ${i}`, ...capabilities } })))
  await nextText(from, (t) => t.startsWith('{"type":"HELLO_ACK"'))
  from.write(maskedFrame(JSON.stringify({ type: 'OPEN_CHAT', data: { target_user_id: toId } })))
  await nextText(from, (t) => t.startsWith('{"type":"CHAT_OPENED"'))
  return { from, to, toId }
}

/** RelayJob.paired: legacy and history pairs on one server, loaded in turns. */
async function relayPaired(job: RelayJob, paired: NonNullable<RelayJob['paired']>) {
  type Sender = { from: RawConn; load: ReturnType<typeof msgLoad> }
  const sets: Record<'off' | 'history', Sender[]> = { off: [], history: [] }
  const conns: RawConn[] = []
  /** RelayJob.receipts: confirmations the recipients sent, and `received` acks relayed back to the senders. */
  const receipts = { sent: 0, relayed: 0 }
  for (let i = 0; i < job.pairs; i++) {
    for (const set of ['off', 'history'] as const) {
      const { from, to, toId } = await switchboardPair(job, i, set === 'history')
      to.onText = job.receipts ? confirmer(() => {}, () => receipts.sent++) : () => {}
      conns.push(from, to)
      sets[set].push({ from, load: msgLoad(i, toId, job.uuidIds, () => {}, job.receipts ? () => receipts.relayed++ : undefined) })
    }
  }
  await sleep(500) // the last presence broadcasts go out before the load starts
  const order = ['off', 'history'] as const
  const windows: RelayWindow[] = []
  let errors = 0
  const turn = async (set: 'off' | 'history', measureS: number) => {
    const counters: LoopCounters = { running: true, measuring: false, replies: 0, errors: 0, latency: new Samples(1) }
    for (const { from, load } of sets[set]) drive(from, load.batches, job.inflight, counters, load.isReply)
    await sleep(paired.settleS * 1000)
    const a = snapshot(job.pid)
    const r0 = counters.replies
    await sleep(measureS * 1000)
    const w = window(a, snapshot(job.pid))
    counters.running = false
    errors += counters.errors
    await sleep(300) // what is in flight comes back before the other pairs start
    return { set, replies: counters.replies - r0, seconds: w.seconds, serverCpuS: w.serverCpuS }
  }
  for (const set of order) await turn(set, job.warmupS / 2) // warm-up, not kept
  for (let c = 0; c < paired.cycles; c++) {
    for (const set of inTurn(order, c)) windows.push(await turn(set, job.measureS))
  }
  const closed = conns.filter((c) => c.closed).length
  for (const c of conns) c.destroy()
  return { windows, errors, closedConnections: closed, ...(job.receipts ? { receipts } : {}) }
}

async function relay(job: RelayJob) {
  if (job.paired) {
    if (job.server !== 'switchboard') throw new Error('a paired relay job runs against Switchboard only')
    return relayPaired(job, job.paired)
  }
  if (job.receipts && job.server !== 'switchboard') throw new Error('receipts are for a relay job against Switchboard only')
  const senders: RawConn[] = []
  const receivers: RawConn[] = []
  const targets: string[] = []
  const opts = { port: job.port }
  // Set up in batches so presence broadcasts of the joins do not pile up behind slow setup.
  for (let i = 0; i < job.pairs; i++) {
    if (job.server === 'raw') {
      senders.push(await connect({ ...opts, path: `/?pair=${i}`, localAddress: SOURCE_ADDRESSES[i % 8] }))
      receivers.push(await connect({ ...opts, path: `/?pair=${i}`, localAddress: SOURCE_ADDRESSES[i % 8] }))
      targets.push(randomUUID())
      continue
    }
    if (job.server === 'socketio') {
      // Each user in the room of its own id, joined when it connects with auth {user}.
      const toId = randomUUID()
      receivers.push(await sioConnect({ ...opts, localAddress: SOURCE_ADDRESSES[(i + 1) % 8] }, { user: toId }))
      senders.push(await sioConnect({ ...opts, localAddress: SOURCE_ADDRESSES[i % 8] }, { user: randomUUID() }))
      targets.push(toId)
      continue
    }
    const { from, to, toId } = await switchboardPair(job, i, job.history === true)
    senders.push(from)
    receivers.push(to)
    targets.push(toId)
  }
  await sleep(500) // the last presence broadcasts go out before the load starts
  const counters: LoopCounters = { running: true, measuring: false, replies: 0, errors: 0, latency: new Samples(4_000_000) }
  let delivered = 0
  const deliveredPrefix = job.server === 'socketio' ? SIO_MSG_PREFIX : MSG_PREFIX
  /** RelayJob.receipts: confirmations the recipients sent, and `received` acks relayed back to the senders. */
  const receipts = { sent: 0, relayed: 0 }
  for (const r of receivers) {
    if (job.receipts && job.server === 'switchboard') r.onText = confirmer(() => delivered++, () => receipts.sent++)
    else r.onText = (c, buf, s, e) => {
      if (startsWith(buf, s, e, deliveredPrefix)) delivered++
      else if (job.server === 'socketio') answerPing(c, buf, s, e)
    }
  }
  // History acks are checked on a sample (parsing every one would load the client's core):
  // `delivered`, with the message's place in the log.
  let acks = 0
  let badAcks = 0
  const checkAck = (buf: Buffer, s: number, e: number) => {
    if (!job.history || (acks++ & 1023) !== 0) return
    const d = JSON.parse(buf.toString('utf8', s, e)).data as { status?: string; seq?: unknown; chat_id?: unknown }
    if (d.status !== 'delivered' || typeof d.seq !== 'number' || typeof d.chat_id !== 'string') badAcks++
  }
  if (job.server === 'socketio') {
    senders.forEach((c, i) => {
      // The same content, recipient and message_id as Switchboard's MSG below; the counter is
      // also the event's ack id (as socket.io-client numbers its acks), in fixed width.
      const placeholder = '0000000000'
      const payload = `42${placeholder}${JSON.stringify(['msg', { to: targets[i], content: 'relay bench message 0123456789', message_id: `m-${i}-${placeholder}` }])}`
      drive(c, stampedFrames(payload, placeholder, false, true), job.inflight, counters, (buf, s, e) => {
        if (startsWith(buf, s, e, SIO_ACK_PREFIX)) return 'reply'
        answerPing(c, buf, s, e)
        return 'skip'
      })
    })
  }
  if (job.server !== 'socketio') senders.forEach((c, i) => {
    const load = msgLoad(i, targets[i]!, job.uuidIds, checkAck, job.receipts ? () => receipts.relayed++ : undefined)
    drive(c, load.batches, job.inflight, counters, load.isReply)
  })
  const conns = [...senders, ...receivers]
  const result = await measure(job.pid, counters, job.warmupS, job.measureS, {
    delivered: () => delivered,
    // What the server wrote (write(2) and friends) other than to these sockets: its store's files, or Redis.
    serverWrites: () => processWriteBytes(job.pid),
    toClients: () => conns.reduce((n, c) => n + c.bytesIn, 0)
  })
  const closed = conns.filter((c) => c.closed).length
  for (const c of conns) c.destroy()
  const { delivered: deliveredRate, serverWrites, toClients } = result.extraRates
  return {
    ...result,
    deliveredRate,
    otherWritesPerMsg: (serverWrites! - toClients!) / result.rate,
    totalReplies: counters.replies,
    closedConnections: closed,
    ...(job.history ? { ackSamples: Math.ceil(acks / 1024), badAcks } : {}),
    ...(job.receipts ? { receipts } : {})
  }
}

// ------------------------------------------------------------------ HISTORY round trips (SPEC 9)

const HISTORY_PREFIX = Buffer.from('{"type":"HISTORY"')

export interface HistoryPhase {
  requests: number
  rate: number
  p50: number
  p99: number
  max: number
  errors: number
  /** Replies that were not the page asked for (wrong chat, count or seqs). */
  wrong: number
  window: Window
}

/**
 * Readers connect with history HELLOs (and their claims), then ask for pages of `limit`
 * messages before a random seq of a random chat of theirs. Sequential phase: one request in
 * flight, the connections taking turns: the latency of one HISTORY. Parallel phase: every
 * connection keeps one in flight: pages per second and latency with the server busy.
 */
async function historyJob(job: HistoryJob) {
  const conns: RawConn[] = []
  for (const [i, r] of job.readers.entries()) {
    const c = await connect({ port: job.port, path: '/ws', localAddress: SOURCE_ADDRESSES[i % SOURCE_ADDRESSES.length] })
    c.write(maskedFrame(JSON.stringify({ type: 'HELLO', data: { user_id: r.user_id, display_name: r.display_name, capabilities: ['history'], claim: r.claim } })))
    const ack = await nextText(c, (t) => t.startsWith('{"type":"HELLO_ACK"') || t.startsWith('{"type":"ERROR"'))
    if (!ack.startsWith('{"type":"HELLO_ACK"')) throw new Error(`history HELLO refused: ${ack}`)
    await nextText(c, (t) => t.startsWith('{"type":"CHATS"'), 60_000)
    conns.push(c)
  }
  await sleep(200)

  let recording = false
  let running = true
  let samples = new Samples(4_000_000)
  let errors = 0
  let wrong = 0
  let requests = 0
  let checkEvery = 1
  /** Per connection: what it asked for and when, while a request is out. */
  const asked = conns.map(() => ({ chat: '', before: 0, at: 0, busy: false }))
  let onDone: (i: number) => void = () => {}

  const ask = (i: number) => {
    const r = job.readers[i]!
    const a = asked[i]!
    a.chat = r.chats[Math.floor(Math.random() * r.chats.length)]!
    a.before = 2 + Math.floor(Math.random() * job.perChat) // 2 … perChat + 1: at least one message older
    a.busy = true
    const frame = maskedFrame(`{"type":"HISTORY","data":{"chat_id":"${a.chat}","before_seq":${a.before},"limit":${job.limit}}}`)
    a.at = performance.now()
    conns[i]!.write(frame)
  }
  const check = (i: number, text: string) => {
    const a = asked[i]!
    const d = JSON.parse(text).data as { chat_id: string; first_seq: number; messages: { seq: number; from: string; to: string }[] }
    const me = job.readers[i]!.user_id
    const expected = Math.min(job.limit, a.before - Math.max(1, d.first_seq))
    const ms = d.messages
    const ok = d.chat_id === a.chat && ms.length === expected && ms.at(-1)?.seq === a.before - 1 &&
      ms.every((m, k) => (k === 0 || m.seq === ms[k - 1]!.seq + 1) && (m.from === me || m.to === me))
    if (!ok) wrong++
  }
  conns.forEach((c, i) => {
    c.onText = (_c, buf, s, e) => {
      const isPage = startsWith(buf, s, e, HISTORY_PREFIX)
      if (!isPage && !startsWith(buf, s, e, ERROR_PREFIX)) return
      const took = performance.now() - asked[i]!.at
      asked[i]!.busy = false
      if (recording) {
        samples.add(took)
        requests++
        if (!isPage) errors++
        else if (requests % checkEvery === 0) check(i, buf.toString('utf8', s, e))
      }
      onDone(i)
    }
  })

  const phase = async (seconds: number, parallel: boolean): Promise<HistoryPhase> => {
    // Let the previous phase's last requests come back.
    while (asked.some((a) => a.busy)) await sleep(5)
    running = true
    let turn = 0
    onDone = parallel
      ? (i) => { if (running) ask(i) }
      : () => { if (running) ask(turn++ % conns.length) }
    // Parallel replies come back faster than one core can parse them all: check a sample.
    checkEvery = parallel ? 8 : 1
    if (parallel) conns.forEach((_c, i) => ask(i))
    else ask(turn++ % conns.length)
    await sleep(job.warmupS * 1000)
    samples = new Samples(4_000_000)
    errors = wrong = requests = 0
    const a = snapshot(job.pid)
    recording = true
    await sleep(seconds * 1000)
    const b = snapshot(job.pid)
    recording = false
    running = false
    const w = window(a, b)
    const [p50, p99, max] = percentiles(samples.xs, samples.n, [50, 99, 100])
    return { requests, rate: requests / w.seconds, p50: p50!, p99: p99!, max: max!, errors, wrong, window: w }
  }

  const sequential = await phase(job.sequentialS, false)
  const parallel = job.parallelS > 0 ? await phase(job.parallelS, true) : undefined
  const closed = conns.filter((c) => c.closed).length
  for (const c of conns) c.destroy()
  return { sequential, parallel, closedConnections: closed }
}

// ------------------------------------------------------------------ unloaded latency (ws client)

async function latency(job: LatencyJob) {
  const ws = new WebSocket(`ws://127.0.0.1:${job.port}${job.path}`, { perMessageDeflate: false })
  const first = job.greeting ? new Promise<void>((resolve) => ws.once('message', () => resolve())) : Promise.resolve()
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  await first
  const samples = new Samples(job.warmup + job.samples)
  let n = 0
  const a = snapshot(job.pid)
  await new Promise<void>((resolve) => {
    const send = () => ws.send(`probe ${performance.now().toFixed(4)}`)
    ws.on('message', (data: Buffer) => {
      const sentAt = Number(data.toString('latin1', 6))
      if (n++ >= job.warmup) samples.add(performance.now() - sentAt)
      if (n >= job.warmup + job.samples) resolve()
      else send()
    })
    send()
  })
  const w = window(a, snapshot(job.pid))
  ws.terminate()
  const [p50, p99] = samples.p50p99()
  return { p50, p99, samples: samples.n, window: w }
}

// ------------------------------------------------------------------ idle connections' memory

interface MemoryReport {
  seq: number
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

let memorySeq = 0
/** Ask the server (SIGUSR2) to collect garbage and report its memory. */
async function serverMemory(job: IdleJob): Promise<MemoryReport> {
  const want = ++memorySeq
  process.kill(job.pid, 'SIGUSR2')
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    await sleep(50)
    if (!existsSync(job.memoryFile)) continue
    const report = JSON.parse(readFileSync(job.memoryFile, 'utf8')) as MemoryReport
    if (report.seq >= want) return report
  }
  throw new Error('the server did not report its memory')
}

async function idle(job: IdleJob) {
  // Warm the accept path first, so code compiled on the first connections is not counted.
  const open = (count: number, concurrency?: number) =>
    job.socketio ? sioConnectMany(count, { port: job.port }, concurrency) : connectMany(count, { port: job.port, path: job.path }, concurrency)
  const warm = await open(200)
  for (const c of warm) c.destroy()
  await sleep(1000)
  const zero = await serverMemory(job)
  const conns: RawConn[] = []
  const steps: { connections: number; rss: number; heapUsed: number; external: number; rssPerConn: number; heapPerConn: number; connectS: number }[] = []
  for (const step of job.steps) {
    const t = performance.now()
    const more = await open(step - conns.length, 128)
    const connectS = (performance.now() - t) / 1000
    conns.push(...more)
    await sleep(1500)
    const alive = conns.filter((c) => !c.closed).length
    const m = await serverMemory(job)
    steps.push({
      connections: alive,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      rssPerConn: (m.rss - zero.rss) / alive,
      heapPerConn: (m.heapUsed - zero.heapUsed) / alive,
      connectS
    })
  }
  for (const c of conns) c.destroy()
  return { zero: { rss: zero.rss, heapUsed: zero.heapUsed }, steps }
}

// ------------------------------------------------------------------ presence join storm

/** How the storm's frames begin, and an entry of a PRESENCE list. */
const STORM = {
  presence: Buffer.from('{"type":"PRESENCE","data":{"users":['),
  entry: Buffer.from('{"user_id":"'),
  helloAck: Buffer.from('{"type":"HELLO_ACK"')
} as const

/** What one client knows of the list: which users it has, as a bitmap over the storm's users. */
interface Known {
  bits: Uint8Array
  count: number
  /** Entries that were not exactly a storm user's entry (wrong name, unknown id). */
  wrong: number
  /** Delta mode: the first PRESENCE after HELLO_ACK is the full list. */
  hadFull: boolean
  acked: boolean
  complete: boolean
}

async function storm(job: StormJob) {
  const N = job.users
  const ids: string[] = Array.from({ length: N }, () => randomUUID())
  const names = ids.map((_, i) => `User ${String(i).padStart(5, '0')}`)
  const entries = ids.map((id, i) => Buffer.from(JSON.stringify({ user_id: id, display_name: names[i], online: true })))
  const index = new Map(ids.map((id, i) => [id, i]))
  const fullLength = STORM.presence.length + entries.reduce((n, e) => n + e.length, 0) + (N - 1) + ']}}'.length
  const capabilities = job.mode === 'delta' ? { capabilities: ['presence_delta'] } : {}
  const hellos = ids.map((id, i) => maskedFrame(JSON.stringify({ type: 'HELLO', data: { user_id: id, display_name: names[i], ...capabilities } })))

  // Warm-up: a smaller crowd joins and leaves first, so the measured storm does not pay for
  // compiling the HELLO and presence paths (a running server has them compiled).
  const warm = await connectMany(Math.min(200, Math.ceil(N / 5)), { port: job.port, path: job.path }, 64)
  warm.forEach((c, i) => c.write(maskedFrame(JSON.stringify({ type: 'HELLO', data: { user_id: randomUUID(), display_name: `Warm ${i}`, ...capabilities } }))))
  await Promise.all(warm.map((c) => nextText(c, (t) => t.startsWith('{"type":"HELLO_ACK"'))))
  await sleep(500)
  for (const c of warm) c.destroy()
  await sleep(1000)

  const conns = await connectMany(N, { port: job.port, path: job.path }, 128)
  await sleep(500)
  let completed = 0
  let lastCompleteAt = 0
  let done: () => void = () => {}
  const allDone = new Promise<void>((resolve) => (done = resolve))
  const known: Known[] = conns.map(() => ({ bits: new Uint8Array(Math.ceil(N / 8)), count: 0, wrong: 0, hadFull: false, acked: false, complete: false }))

  /** Apply the entries of a PRESENCE list; `replace`: it is the whole list. */
  const apply = (k: Known, buf: Buffer, s: number, e: number, replace: boolean) => {
    if (replace) {
      k.bits.fill(0)
      k.count = 0
      k.wrong = 0
    }
    let pos = buf.indexOf(STORM.entry, s)
    while (pos !== -1 && pos < e) {
      const close = buf.indexOf(0x7d, pos) // '}': names here hold none
      const id = buf.toString('latin1', pos + STORM.entry.length, pos + STORM.entry.length + 36)
      const i = index.get(id)
      const bit = i === undefined ? 0 : 1 << (i & 7)
      if (i === undefined) {
        k.wrong++
      } else if (buf.compare(entries[i]!, 0, entries[i]!.length, pos, close + 1) === 0) {
        if (!(k.bits[i >> 3]! & bit)) {
          k.bits[i >> 3]! |= bit
          k.count++
        }
      } else if (buf.indexOf('"online":false', pos, 'latin1') !== -1 && buf.indexOf('"online":false', pos, 'latin1') < close) {
        if (k.bits[i >> 3]! & bit) {
          k.bits[i >> 3]! &= ~bit
          k.count--
        }
      } else {
        k.wrong++
      }
      pos = buf.indexOf(STORM.entry, close)
    }
  }

  conns.forEach((conn, c) => {
    const k = known[c]!
    conn.onText = (_conn, buf, s, e) => {
      if (startsWith(buf, s, e, STORM.helloAck)) {
        k.acked = true
        return
      }
      if (!startsWith(buf, s, e, STORM.presence)) return
      if (job.mode === 'delta') {
        apply(k, buf, s, e, !k.hadFull)
        k.hadFull = true
      } else if (e - s === fullLength) {
        apply(k, buf, s, e, true)
      } else {
        // A full list of another length cannot be the complete one: no need to read it.
        k.count = -1
      }
      const complete = k.count === N && k.wrong === 0
      if (complete && !k.complete) {
        completed++
        lastCompleteAt = performance.now()
        if (completed === N) done()
      } else if (!complete && k.complete) {
        completed--
      }
      k.complete = complete
    }
  })

  const bytesBefore = conns.reduce((n, c) => n + c.bytesIn, 0)
  const a = snapshot(job.pid)
  const start = performance.now()
  // HELLOs spread evenly over spreadS, sent from a 5 ms tick.
  let sent = 0
  let lastHelloAt = start
  const ticker = setInterval(() => {
    const due = Math.min(N, Math.ceil(((performance.now() - start) / (job.spreadS * 1000)) * N))
    for (; sent < due; sent++) conns[sent]!.write(hellos[sent]!)
    if (sent >= N) {
      lastHelloAt = performance.now()
      clearInterval(ticker)
    }
  }, 5)
  let aborted: string | undefined
  const guard = setInterval(() => {
    try {
      if (processRss(job.pid) > job.rssLimitMb * 1024 * 1024) {
        aborted = `server RSS passed ${job.rssLimitMb} MB`
        done()
      }
    } catch {
      aborted = 'server exited'
      done()
    }
  }, 200)
  const timeout = setTimeout(() => {
    aborted = `not complete within ${job.timeoutS} s`
    done()
  }, job.timeoutS * 1000)
  await allDone
  clearTimeout(timeout)
  clearInterval(guard)
  clearInterval(ticker)
  const atComplete = snapshot(job.pid)
  // Whatever the server still had queued (retries of dropped frames) is its cost too.
  let quietSince = performance.now()
  let lastBytes = conns.reduce((n, c) => n + c.bytesIn, 0)
  while (!aborted && performance.now() - quietSince < 500) {
    await sleep(100)
    const bytes = conns.reduce((n, c) => n + c.bytesIn, 0)
    if (bytes !== lastBytes) {
      lastBytes = bytes
      quietSince = performance.now()
    }
  }
  const b = snapshot(job.pid)
  const bytes = conns.reduce((n, c) => n + c.bytesIn, 0) - bytesBefore
  const exact = known.filter((k) => k.count === N && k.wrong === 0).length
  const acked = known.filter((k) => k.acked).length
  // Connections the server ended (a slow reader terminated, a ping unanswered in time): their
  // users went offline, so no list can be exact after that.
  const ended = conns.filter((c) => c.closed).length
  for (const c of conns) c.destroy()
  return {
    users: N,
    mode: job.mode,
    aborted,
    serverCpuS: b.serverCpu - a.serverCpu,
    serverCpuToCompleteS: atComplete.serverCpu - a.serverCpu,
    bytesSent: bytes,
    completeMs: aborted ? NaN : lastCompleteAt - start,
    afterLastHelloMs: aborted ? NaN : lastCompleteAt - lastHelloAt,
    exactLists: exact,
    acked,
    ended,
    window: window(a, b)
  }
}

// ------------------------------------------------------------------ connection establishment

async function connectRate(job: ConnectJob) {
  let running = true
  let measuring = false
  let opened = 0
  let failed = 0
  const latency = new Samples(2_000_000)
  let request = handshakeRequest({ port: job.port, path: job.until === 'socketio' ? SIO_PATH : job.path })
  const once = (localAddress: string) => new Promise<boolean>((resolve) => {
    const t = performance.now()
    const socket = net.connect({ port: job.port, host: '127.0.0.1', localAddress })
    socket.setNoDelay(true)
    let head = ''
    /** After the 101 (job.until): the frames read so far, and how far they were parsed. */
    let frames: Buffer | undefined
    let parsed = 0
    let done = false
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      if (ok && measuring) latency.add(performance.now() - t)
      // Abortive close: no TIME_WAIT, so ports are not exhausted over a long run.
      socket.resetAndDestroy()
      resolve(ok)
    }
    const onText = (text: string) => {
      if (job.until === 'welcome') {
        if (text.startsWith('{"type":"WELCOME"')) finish(true)
      } else if (text.startsWith('0{')) {
        socket.write(SIO_CONNECT_FRAME)
      } else if (text.startsWith('40{')) {
        finish(true)
      } else if (text.startsWith('44')) {
        finish(false)
      }
    }
    socket.on('connect', () => socket.write(request))
    socket.on('data', (chunk: Buffer) => {
      if (frames) {
        frames = Buffer.concat([frames, chunk])
        parsed = readTextFrames(frames, parsed, onText)
        return
      }
      head += chunk.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      const ok = head.startsWith('HTTP/1.1 101')
      if (!ok || !job.until) return finish(ok)
      frames = Buffer.from(head.slice(end + 4), 'latin1')
      parsed = readTextFrames(frames, 0, onText)
    })
    socket.on('error', () => {
      socket.destroy()
      resolve(false)
    })
  })
  const worker = async (w: number) => {
    let i = w
    while (running) {
      const ok = await once(SOURCE_ADDRESSES[i++ % SOURCE_ADDRESSES.length]!)
      if (!measuring) continue
      if (ok) opened++
      else failed++
    }
  }
  const workers = Array.from({ length: job.concurrency }, (_, w) => worker(w))
  if (job.cycle) {
    if (job.until) throw new Error('a cycling connect job counts handshakes to the 101 only (no until)')
    const { paths, cycles, settleS } = job.cycle
    const requests = new Map(paths.map((path) => [path, handshakeRequest({ port: job.port, path })]))
    for (const path of paths) {
      request = requests.get(path)!
      await sleep((job.warmupS * 1000) / paths.length)
    }
    const windows: PathWindow[] = []
    for (let c = 0; c < cycles; c++) {
      // inTurn: a steady drift does not fall on each step with one sign.
      for (const path of inTurn(paths, c)) {
        request = requests.get(path)!
        await sleep(settleS * 1000)
        opened = 0
        const a = snapshot(job.pid)
        measuring = true
        await sleep(job.measureS * 1000)
        measuring = false
        const w = window(a, snapshot(job.pid))
        windows.push({ path, opened, seconds: w.seconds, serverCpuS: w.serverCpuS, serverSysS: w.serverSysS })
      }
    }
    running = false
    await Promise.all(workers)
    return { windows, errors: failed }
  }
  await sleep(job.warmupS * 1000)
  const a = snapshot(job.pid)
  measuring = true
  await sleep(job.measureS * 1000)
  const b = snapshot(job.pid)
  measuring = false
  running = false
  await Promise.all(workers)
  const w = window(a, b)
  const [p50, p99] = latency.p50p99()
  return { rate: opened / w.seconds, perCpuSecond: opened / w.serverCpuS, errors: failed, p50, p99, window: w }
}

// ------------------------------------------------------------------ main

const job = JSON.parse(process.argv[2] ?? '{}') as Job
const run = { throughput, relay, latency, idle, storm, connect: connectRate, history: historyJob }[job.kind] as (j: Job) => Promise<unknown>
try {
  const result = await run(job)
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`)
  process.exit(0)
} catch (err) {
  process.stderr.write(`loadgen: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
}
