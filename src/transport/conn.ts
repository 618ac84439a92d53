// One WebSocket connection, whatever its surface: its id, frame budget, send-buffer caps, the
// order its frames are handled in, error isolation and cleanup. A surface hands in a Handler
// built with its Conn; it sees text frames in turn and writes through send(frame, label).
import type { WebSocket, RawData } from 'ws'
import type { FastifyBaseLogger } from 'fastify'
import type { Awaitable } from '../lib/awaitable.ts'
import { TextParts } from '../lib/text-parts.ts'
import type { ClientIdPrefix } from '../lib/client-id.ts'
import { CloseCode, CloseReason } from '../protocol/close-codes.ts'
import type { Beating } from './heartbeat-wheel.ts'
import { releaseUpgrade, tcpStreamOf, type TcpStream } from './upgrade-internals.ts'
import type { ConnectionRegistry } from './connections.ts'

export type Surface = 'main' | 'echo' | 'health' | 'walker'

/** A frame's metrics label: its message type as the protocol schemas name it (src/protocol/labels.ts). */
export type FrameLabel = string

/** What a surface does with each connection; built by the surface with its Conn (registry.add). */
export interface Handler {
  /**
   * One text frame's UTF-8 bytes, in its turn: a frame is handed in only once everything before
   * it (frames and run() work) has finished. A returned promise holds the frames after it; its
   * rejection, like a throw, closes this connection with 1011 and touches no other.
   */
  message(text: Buffer): Awaitable<void>
  /**
   * A text frame that arrived once the shutdown drain began, in its turn. No new work may start
   * then; a surface may still answer (fail a chat message so its sender resends). Absent: dropped.
   */
  drain?(text: Buffer): Awaitable<void>
  /** The surface's app-level heartbeat, sent with each protocol ping (server_ping, heartbeat). */
  beat?(): void
  /**
   * A binary frame's turn, for a surface that writes the answer its own way (/ws renders it in
   * the connection's dialect). Absent: the surface's fixed `binary` answer is sent.
   */
  binary?(): void
  /** The socket closed. Work still queued runs after this (cleanup queued with run() included). */
  closed?(code: number): void
}

/** How one surface's connections are opened; made once per route. */
export interface SurfaceOptions {
  surface: Surface
  prefix: ClientIdPrefix
  /** The answer to a binary frame, sent in its turn: no surface takes binary. */
  binary: { frame: string; label: FrameLabel; errorCode?: string }
  /** Frames that may wait behind unfinished work; past it the connection closes with 1008. Default: no cap. */
  maxQueued?: number
  /** The same in bytes of frames waiting. Default MAX_QUEUED_BYTES. */
  maxQueuedBytes?: number
}

/** Every frame Switchboard sends is text, including verbatim echoes of a received Buffer. */
const TEXT = { binary: false } as const
/** A binary frame in the queue: it gets the surface's fixed answer, so its bytes are not kept. */
const BINARY = Symbol('binary frame')
/**
 * Bytes of frames that may wait behind unfinished work on one connection, on every surface: a
 * sender within its frame budget but faster than its work (a slow backplane: each MSG waits for
 * its Redis round trips) would otherwise grow the queue without end. 64 frames of the default
 * WS_MAX_PAYLOAD; thousands of chat-sized ones.
 */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024

/** What a queued entry holds in memory: its frame's bytes (work and binary markers count as none). */
function entryBytes(entry: Entry): number {
  return Buffer.isBuffer(entry) ? entry.length : entry instanceof DrainFrame ? entry.text.length : 0
}

/** A frame that arrived during the drain, queued for Handler.drain. */
class DrainFrame {
  constructor(readonly text: Buffer) {}
}
type Work = () => Awaitable<void>
type Entry = Buffer | typeof BINARY | DrainFrame | Work

/** The end of a tick in which a stream was written: what it corked goes out in one write. */
function flushBatch(stream: TcpStream): void {
  stream.uncork()
}

/**
 * Writes to `stream` from now to the end of this tick leave in one system call: corked now,
 * uncorked then. Already corked: nothing to add. Pinned by test/transport/upgrade-one-write.test.ts.
 */
export function corkForTick(stream: TcpStream): void {
  if (stream.writableCorked > 0) return
  stream.cork()
  process.nextTick(flushBatch, stream)
}

/**
 * A whole, unmasked text frame, framed here and handed to the TCP stream as one Buffer (a large
 * Buffer as its header and itself): ws's send() spends an options spread, a header Buffer, a
 * cork and two stream writes on every frame, the relay's largest user-space cost after the parse
 * (docs/bench.md, "Frames written by Conn"). permessage-deflate is off (plugins/websocket.ts),
 * so ws's sender never queues, and its own frames (ping, pong, close) keep their order with
 * these: every one is a write to the same stream. Pinned by test/transport/frame-writes.test.ts.
 */
function writeTextFrame(stream: TcpStream, data: string | Buffer | TextParts): void {
  if (data instanceof TextParts) return writeTextParts(stream, data)
  const text = typeof data === 'string'
  const n = text ? Buffer.byteLength(data) : data.length
  const whole = text || n <= COPY_MAX
  const [out, h] = frameHeader(n, whole ? n : 0)
  if (!whole) {
    stream.write(out)
    stream.write(data as Buffer)
    return
  }
  if (!text) (data as Buffer).copy(out, h)
  // All ASCII (as many bytes as characters): latin1 is then the same bytes, copied without UTF-8 encoding.
  else out.write(data as string, h, n, n === (data as string).length ? 'latin1' : 'utf8')
  stream.write(out)
}

/**
 * A frame in pieces: the header with the small pieces up to the first large one copied behind
 * it, then each large piece as it is (a presence list's slice of its log) and each small piece
 * after one in a write of its own, so no large piece is copied.
 */
function writeTextParts(stream: TcpStream, data: TextParts): void {
  const { parts } = data
  let inHead = 0
  let headBytes = 0
  while (inHead < parts.length && headBytes + parts[inHead]!.length <= COPY_MAX) {
    headBytes += parts[inHead++]!.length
  }
  const [out, h] = frameHeader(data.byteLength, headBytes)
  let at = h
  for (let i = 0; i < inHead; i++) at += parts[i]!.copy(out, at)
  stream.write(out)
  for (let i = inHead; i < parts.length; i++) if (parts[i]!.length > 0) stream.write(parts[i]!)
}

/** A Buffer holding a text frame's header for an `n`-byte payload and room for `room` bytes after it. */
function frameHeader(n: number, room: number): [Buffer, number] {
  const h = n < 126 ? 2 : n < 65_536 ? 4 : 10
  const out = Buffer.allocUnsafe(h + room)
  out[0] = 0x81 // FIN, text
  if (h === 2) out[1] = n
  else if (h === 4) {
    out[1] = 126
    out.writeUInt16BE(n, 2)
  } else {
    out[1] = 127
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2)
    out.writeUInt32BE(n >>> 0, 6)
  }
  return [out, h]
}

/** Buffers up to this size are copied behind their header (one chunk); larger ones go as they are. */
const COPY_MAX = 16 * 1024

/** Where a socket's listeners find their connection. */
const CONN = Symbol('switchboard.conn')
type Owned = WebSocket & { [CONN]: Conn }

function onSocketError(this: WebSocket, err: Error): void {
  ;(this as Owned)[CONN].onError(err)
}
function onSocketPing(this: WebSocket): void {
  ;(this as Owned)[CONN].onControl(false)
}
function onSocketPong(this: WebSocket): void {
  ;(this as Owned)[CONN].onControl(true)
}
function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  ;(this as Owned)[CONN].onFrame(data as Buffer, isBinary)
}
function onSocketClose(this: WebSocket, code: number): void {
  ;(this as Owned)[CONN].onClosed(code)
}

export class Conn implements Beating {
  readonly id: string
  readonly surface: Surface
  /** Date.now() at open: ages are reported from it. */
  readonly openedAt = Date.now()
  awaitingPong = false
  wheelSlot: number | undefined = undefined
  /**
   * The server ended this connection (a close frame it sent: shutdown, flood, 1011, token
   * expiry; or a terminate: dead peer, slow reader). Frames still queued then have no one to
   * answer and are skipped; when the client closed, what it sent before still counts.
   */
  endedByServer = false
  private closed = false
  private handler!: Handler
  private tokens: number
  private refilledAt = this.openedAt
  /** Absent (a socket without ws's `_socket`), sends go out one write each. */
  private readonly stream: TcpStream | undefined
  /**
   * The stream writeTextFrame writes to: only without a negotiated extension (with compression,
   * ws's sender may queue its frames and ours would overtake them); else ws's send().
   */
  private readonly framesTo: TcpStream | undefined
  private logger: FastifyBaseLogger | undefined
  /** Work is pending: frames and run() work wait in `backlog` until it finishes. */
  private busy = false
  private backlog: Entry[] | undefined
  /** Bytes of the frames in `backlog`. */
  private backlogBytes = 0
  /** The label the handler gave the frame it is handling (receivedAs). */
  private inLabel: FrameLabel = 'other'
  /** What pending work calls when it settles; made with the first, so a connection that never waits holds none. */
  private afterWork: (() => void) | undefined
  private afterFailure: ((err: unknown) => void) | undefined

  constructor(
    private readonly socket: WebSocket,
    private readonly registry: ConnectionRegistry,
    private readonly opts: SurfaceOptions,
    /** The upgrade's request id: a connection's logger is made from it when first needed. */
    private readonly reqId: string
  ) {
    this.id = registry.ids.next(opts.prefix)
    this.surface = opts.surface
    this.tokens = registry.limits.frameBurst
    this.stream = tcpStreamOf(socket)
    this.framesTo = socket.extensions === '' ? this.stream : undefined
  }

  /** @internal The registry hands in the surface's handler, built with this Conn. */
  use(handler: Handler): void {
    this.handler = handler
  }

  /** The request's logger, as Fastify would have made it; made when first used (most sockets never log). */
  get log(): FastifyBaseLogger {
    return (this.logger ??= this.registry.log.child({ reqId: this.reqId, client_id: this.id }))
  }

  /** The peer can be written to: the socket is open and not closing. */
  get open(): boolean {
    return !this.closed && this.socket.readyState === 1
  }

  /** Whether the peer could take a frame right now without passing the hard cap. */
  get writable(): boolean {
    return this.open && this.socket.bufferedAmount <= this.registry.limits.sendHardCap
  }

  /**
   * Send a frame the peer must get, counted under `label` (and an error reply under its code).
   * A peer buffering past the hard cap is terminated. False when it could not be handed over.
   */
  send(data: string | Buffer | TextParts, label: FrameLabel, errorCode?: string): boolean {
    if (this.closed || this.socket.readyState !== 1) return false
    if (this.socket.bufferedAmount > this.registry.limits.sendHardCap) {
      this.log.warn({ buffered: this.socket.bufferedAmount }, 'slow reader terminated')
      this.endedByServer = true
      this.socket.terminate()
      return false
    }
    // A large text (a flat PRESENCE list, say) is encoded once for all the sockets it goes to this tick.
    const frame = typeof data === 'string' && data.length >= SHARED_TEXT ? this.registry.encoded(data) : data
    // Frames sent in one tick leave in one write: the stream is corked at the first and uncorked
    // once the tick's work (its promise continuations included) is done. A burst of frames read
    // in one TCP chunk, or a broadcast, then costs one syscall per connection instead of one per
    // frame; no frame waits longer than the tick that sent it.
    if (this.stream) corkForTick(this.stream)
    if (this.framesTo) writeTextFrame(this.framesTo, frame)
    else this.socket.send(frame instanceof TextParts ? frame.bytes() : frame, TEXT)
    this.registry.observeFrame(this, 'out', label, errorCode)
    return true
  }

  /** Send a frame that may be skipped (typing, presence) when the peer is slow to read. */
  sendDroppable(data: string | Buffer | TextParts, label: FrameLabel): boolean {
    if (this.socket.bufferedAmount > this.registry.limits.sendSoftCap) return false
    return this.send(data, label)
  }

  /** Names the frame being handled for the metrics (its message type); unnamed frames count as "other". */
  receivedAs(label: FrameLabel): void {
    this.inLabel = label
  }

  /**
   * Run `work` in this connection's order: at once when nothing is pending, else after the
   * frames and work queued before it. Its failure closes the connection with 1011.
   */
  run(work: Work): void {
    if (this.busy || this.backlog?.length) (this.backlog ??= []).push(work)
    else this.handle(work)
  }

  close(code: number, reason: string): void {
    if (this.socket.readyState !== 0 && this.socket.readyState !== 1) return
    this.endedByServer = true
    this.socket.close(code, reason)
  }

  /** @internal Shutdown's last word: a socket still open past the grace. */
  terminate(): void {
    this.socket.terminate()
  }

  /** @internal Resolves when the socket has closed (shutdown awaits the close handshakes). */
  whenClosed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) resolve()
      else this.socket.once('close', () => resolve())
    })
  }

  /** A handler failed: the failure stays on this connection, which closes with 1011. */
  fail(err: unknown): void {
    this.log.error({ err, surface: this.surface }, 'handler failed; closing with 1011')
    this.close(CloseCode.INTERNAL_ERROR, CloseReason.INTERNAL)
  }

  // ---- the heartbeat wheel (Beating)

  beat(): void {
    // Runs inside the wheel's timer for a whole slot of connections: a throw here would skip
    // the rest of the slot and escape as an uncaught exception, so it stays on this connection.
    try {
      this.awaitingPong = true
      this.socket.ping()
      this.handler.beat?.()
    } catch (err) {
      this.fail(err)
    }
  }

  expire(): void {
    this.log.info('no pong within WS_PING_TIMEOUT; terminating')
    this.endedByServer = true
    this.socket.terminate()
  }

  // ---- the frame budget

  /** Token bucket over all frames: a flood past the budget closes the connection with 1008. */
  private spend(): boolean {
    const now = Date.now()
    const { framesPerSec, frameBurst } = this.registry.limits
    this.tokens = Math.min(frameBurst, this.tokens + ((now - this.refilledAt) * framesPerSec) / 1000)
    this.refilledAt = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return true
    }
    this.log.warn('frame budget exceeded; closing with 1008')
    this.closed = true
    this.endedByServer = true
    this.socket.close(CloseCode.POLICY_VIOLATION, CloseReason.FLOOD)
    return false
  }

  // ---- the order of work: one frame or run() at a time, synchronously while nothing is pending

  private enqueue(entry: Entry): void {
    const backlog = (this.backlog ??= [])
    const { maxQueued: max, maxQueuedBytes: maxBytes = MAX_QUEUED_BYTES } = this.opts
    const bytes = entryBytes(entry)
    if ((max !== undefined && backlog.length + (this.busy ? 1 : 0) >= max) || this.backlogBytes + bytes > maxBytes) {
      this.log.warn({ queued: backlog.length + 1, queued_bytes: this.backlogBytes + bytes }, 'too many messages waiting; closing with 1008')
      this.close(CloseCode.POLICY_VIOLATION, CloseReason.QUEUE_FULL)
      return
    }
    this.backlogBytes += bytes
    backlog.push(entry)
  }

  /** Handle one entry; a promise it returns makes the connection busy until it settles. */
  private handle(entry: Entry): void {
    let result: Awaitable<void>
    try {
      result = this.start(entry)
    } catch (err) {
      this.fail(err)
      return
    }
    if (result === undefined || typeof (result as PromiseLike<void>).then !== 'function') return
    this.busy = true
    this.registry.busy(this)
    ;(result as PromiseLike<void>).then(this.afterWork ??= () => this.next(), this.afterFailure ??= (err) => {
      this.fail(err)
      this.next()
    })
  }

  private start(entry: Entry): Awaitable<void> {
    if (typeof entry === 'function') return entry()
    // A frame whose turn comes after the server ended the connection is not handled: its reply
    // could not reach the client, and a chat message delivered now could never be acknowledged.
    if (this.endedByServer) {
      this.registry.observeFrame(this, 'in', entry === BINARY ? 'binary' : 'other')
      return
    }
    if (entry === BINARY) {
      this.registry.observeFrame(this, 'in', 'binary')
      if (this.handler.binary) return this.handler.binary()
      const { frame, label, errorCode } = this.opts.binary
      this.send(frame, label, errorCode)
      return
    }
    this.inLabel = 'other'
    let result: Awaitable<void>
    try {
      result = entry instanceof DrainFrame ? this.handler.drain?.(entry.text) : this.handler.message(entry)
    } finally {
      this.registry.observeFrame(this, 'in', this.inLabel)
    }
    return result
  }

  /** The pending work settled: run what waited, until something is pending again. */
  private next(): void {
    this.busy = false
    const backlog = this.backlog
    while (backlog && backlog.length > 0 && !this.busy) {
      const entry = backlog.shift()!
      this.backlogBytes -= entryBytes(entry)
      this.handle(entry)
    }
    if (!this.busy) this.registry.idle(this)
  }

  // ---- the socket's listeners (attach)

  /**
   * Attach listeners synchronously: frames that arrive before this returns are not lost. The
   * listeners are shared functions that find their Conn on the socket, not closures made for
   * every connection: an idle socket should cost little more than ws's own objects.
   */
  attach(): void {
    const { socket } = this
    ;(socket as Owned)[CONN] = this
    releaseUpgrade(socket, onSocketError)
    socket.on('ping', onSocketPing)
    socket.on('pong', onSocketPong)
    socket.on('message', onSocketMessage)
    socket.on('close', onSocketClose) // ws emits it once
  }

  /** @internal The socket's 'error'. */
  onError(err: Error): void {
    this.log.debug({ err }, 'socket error')
    this.socket.terminate()
  }

  /**
   * @internal A ping or pong. Control frames spend the budget too: ws answers every ping with a
   * pong, so an unmetered ping flood from a peer that does not read would grow the send buffer.
   */
  onControl(pong: boolean): void {
    if (pong) this.awaitingPong = false
    if (!this.closed) this.spend()
  }

  /** @internal One frame. */
  onFrame(data: Buffer, isBinary: boolean): void {
    // Once our close frame went out (1001, 1008, 1011) no reply may follow it (RFC 6455), so
    // nothing more is handled: work done now could never be acknowledged.
    if (this.closed || this.socket.readyState !== 1) return
    if (!this.spend()) return
    let entry: Entry
    if (!this.registry.draining) entry = isBinary ? BINARY : data
    else if (!isBinary && this.handler.drain) entry = new DrainFrame(data)
    else return // no new work during the drain
    // Everything runs inside ws's socket 'data' listener: handle() keeps every failure on this
    // connection, so none escapes as an uncaught exception for the whole process.
    if (this.busy || this.backlog?.length) this.enqueue(entry)
    else this.handle(entry)
  }

  /** @internal The socket closed. */
  onClosed(code: number): void {
    this.closed = true
    this.registry.release(this, code)
    try {
      this.handler.closed?.(code)
    } catch (err) {
      this.log.error({ err }, 'close handler failed')
    }
  }
}

/** Texts from this many characters are sent as UTF-8 bytes encoded once per tick (registry.encoded). */
const SHARED_TEXT = 1024
