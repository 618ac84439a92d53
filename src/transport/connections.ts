// The life of every WebSocket connection, whatever its surface: id, heartbeat, frame budget,
// send-buffer caps, error isolation and cleanup. Surfaces hand in callbacks and never touch the
// raw socket's listeners, so each of these rules lives here once.
import type { WebSocket, RawData } from 'ws'
import type { FastifyBaseLogger } from 'fastify'
import { ClientIds, type ClientIdPrefix } from '../lib/client-id.ts'
import { CloseCode, CloseReason } from '../protocol/close-codes.ts'
import { HeartbeatWheel, type Beating } from './heartbeat-wheel.ts'

/** Every frame Switchboard sends is text, including verbatim echoes of a received Buffer. */
const TEXT = { binary: false } as const

/** The TCP stream under a ws socket, which ws keeps as `_socket`. */
interface Stream {
  cork(): void
  uncork(): void
  readonly writableCorked: number
  /** The HTTP response Node's server assigned to the socket (net.Socket's `_httpMessage`). */
  _httpMessage?: { detachSocket?(socket: Stream): void } | null
}

/** The end of a tick in which a connection sent: what it corked goes out in one write. */
function flushBatch(stream: Stream): void {
  stream.uncork()
}

/** The share of the shutdown grace kept for close handshakes after in-flight work (at most half). */
const CLOSE_HANDSHAKE_MS = 2000

/** A timer as a promise, cancellable so no drain leaves one behind; unref'd, it never holds the process. */
function delay(ms: number): { done: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined
  const done = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms))
    timer.unref()
  })
  return { done, cancel: () => clearTimeout(timer) }
}

export type Surface = 'main' | 'echo' | 'health' | 'walker'

export interface ConnectionLimits {
  pingIntervalS: number
  pingTimeoutS: number
  framesPerSec: number
  frameBurst: number
  sendSoftCap: number
  sendHardCap: number
}

export interface ConnHandlers {
  /** One frame. May return a promise; its rejection is isolated to this connection (1011). */
  onMessage(conn: Conn, data: RawData, isBinary: boolean): void | Promise<void>
  /**
   * A frame that arrives once the shutdown drain began. No new work may start then (the drain
   * waits for work in flight, and new work would keep it from ending); a surface may still
   * answer, e.g. fail a chat message so its sender knows to resend. Absent: the frame is dropped.
   */
  onDrain?(conn: Conn, data: RawData, isBinary: boolean): void | Promise<void>
  /** App-level heartbeat sent with each protocol ping (server_ping, heartbeat). */
  onBeat?(conn: Conn): void
  onClose?(conn: Conn, code: number): void
}

/** Told of every connection's life and frames (metrics); must not throw. */
export interface ConnectionObserver {
  opened(surface: Surface): void
  frame(surface: Surface, direction: 'in' | 'out', data: RawData | string, isBinary: boolean): void
  closed(surface: Surface, code: number): void
}

export interface OpenOptions extends ConnHandlers {
  surface: Surface
  prefix: ClientIdPrefix
  log: FastifyBaseLogger
}

/**
 * Node's HTTP server armed a timeout on every socket (Fastify's connectionTimeout), which ws
 * disarms on upgrade (setTimeout(0)); the disarmed Timeout and its bound callback stay on the
 * socket under Node's `timeout` symbol, and every read and write refreshes it in vain. Dropped
 * here. Should Node rename the symbol, nothing is dropped and nothing breaks.
 */
let timeoutSymbol: symbol | undefined
function releaseTimer(stream: object): void {
  timeoutSymbol ??= Object.getOwnPropertySymbols(stream).find((s) => s.description === 'timeout')
  if (!timeoutSymbol) return
  const timers = stream as Record<symbol, { _idleTimeout?: number } | null | undefined>
  // -1: cleared (unenrolled); an armed timer is left alone.
  if (timers[timeoutSymbol]?._idleTimeout === -1) timers[timeoutSymbol] = null
}

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
  ;(this as Owned)[CONN].onFrame(data, isBinary)
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
  /** Heartbeats sent, and `{"type":"pong"}` answers counted (/ws/health's get_status). */
  pingsSent = 0
  appPongs = 0
  closed = false
  /**
   * The server ended this connection (a close frame it sent: shutdown, flood, 1011, token
   * expiry; or a terminate: dead peer, slow reader). Work queued for it then has no one to
   * answer, so surfaces skip it; when the client closed, what it sent before still counts.
   */
  endedByServer = false
  private tokens: number
  private refilledAt = this.openedAt
  /** Absent (a socket without ws's `_socket`), sends go out one write each. */
  private readonly stream: Stream | undefined

  constructor(
    readonly socket: WebSocket,
    private readonly registry: ConnectionRegistry,
    private readonly opts: OpenOptions
  ) {
    this.id = registry.ids.next(opts.prefix)
    this.surface = opts.surface
    this.tokens = registry.limits.frameBurst
    this.stream = (socket as unknown as { _socket?: Stream })._socket
  }

  get log(): FastifyBaseLogger {
    return this.opts.log
  }

  /** Send a frame the peer must get. A peer buffering past the hard cap is terminated. */
  send(data: string | Buffer): boolean {
    if (this.closed || this.socket.readyState !== 1) return false
    if (this.socket.bufferedAmount > this.registry.limits.sendHardCap) {
      this.log.warn({ client_id: this.id, buffered: this.socket.bufferedAmount }, 'slow reader terminated')
      this.endedByServer = true
      this.socket.terminate()
      return false
    }
    this.batch()
    // A large text (a presence list) is encoded once for all the sockets it goes to this tick.
    this.socket.send(typeof data === 'string' && data.length >= SHARED_TEXT ? this.registry.encoded(data) : data, TEXT)
    this.observeFrame('out', data, false)
    return true
  }

  /**
   * Frames sent in one tick leave in one write: the stream is corked at the first and uncorked
   * once the tick's work (its promise continuations included) is done. A burst of frames read
   * in one TCP chunk, or a broadcast, then costs one syscall per connection instead of one
   * per frame; no frame waits longer than the tick that sent it.
   */
  private batch(): void {
    const stream = this.stream
    if (!stream || stream.writableCorked > 0) return
    stream.cork()
    process.nextTick(flushBatch, stream)
  }

  /** Send a frame that may be skipped (typing, presence) when the peer is slow to read. */
  sendDroppable(data: string | Buffer): boolean {
    if (this.socket.bufferedAmount > this.registry.limits.sendSoftCap) return false
    return this.send(data)
  }

  /** Whether the peer could take a frame right now without passing the hard cap. */
  get writable(): boolean {
    return !this.closed && this.socket.readyState === 1 && this.socket.bufferedAmount <= this.registry.limits.sendHardCap
  }

  close(code: number, reason: string): void {
    if (this.socket.readyState !== 0 && this.socket.readyState !== 1) return
    this.endedByServer = true
    this.socket.close(code, reason)
  }

  beat(): void {
    // Runs inside the wheel's timer for a whole slot of connections: a throw here would skip
    // the rest of the slot and escape as an uncaught exception, so it stays on this connection.
    try {
      this.awaitingPong = true
      this.pingsSent++
      this.socket.ping()
      this.opts.onBeat?.(this)
    } catch (err) {
      this.fail(err)
    }
  }

  expire(): void {
    this.log.info({ client_id: this.id }, 'no pong within WS_PING_TIMEOUT; terminating')
    this.endedByServer = true
    this.socket.terminate()
  }

  /** Token bucket over all frames: a flood past the budget closes the connection with 1008. */
  admitFrame(): boolean {
    const now = Date.now()
    const { framesPerSec, frameBurst } = this.registry.limits
    this.tokens = Math.min(frameBurst, this.tokens + ((now - this.refilledAt) * framesPerSec) / 1000)
    this.refilledAt = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return true
    }
    return false
  }

  /** Spend one frame of the budget; past it the connection closes with 1008. */
  private spend(): boolean {
    if (this.admitFrame()) return true
    this.log.warn({ client_id: this.id }, 'frame budget exceeded; closing with 1008')
    this.closed = true
    this.close(CloseCode.POLICY_VIOLATION, CloseReason.FLOOD)
    return false
  }

  /**
   * Metrics must never cost a connection or the process: a throwing observer is only logged.
   * Called for every frame, so it takes plain arguments (a closure would be one more object a frame).
   */
  private observeFrame(direction: 'in' | 'out', data: RawData | string, isBinary: boolean): void {
    const observer = this.registry.observer
    if (!observer) return
    try {
      observer.frame(this.surface, direction, data, isBinary)
    } catch (err) {
      this.log.error({ err, client_id: this.id }, 'connection observer failed')
    }
  }

  private observeClosed(code: number): void {
    try {
      this.registry.observer?.closed(this.surface, code)
    } catch (err) {
      this.log.error({ err, client_id: this.id }, 'connection observer failed')
    }
  }

  /**
   * Attach listeners synchronously: frames that arrive before this returns are not lost. The
   * listeners are shared functions that find their Conn on the socket, not closures made for
   * every connection: an idle socket should cost little more than ws's own objects.
   */
  attach(): void {
    const { socket } = this
    ;(socket as Owned)[CONN] = this
    // @fastify/websocket's own error listener closes over the upgrade's request and reply, which
    // would stay alive as long as the socket; this one needs only the connection. Added before
    // the other goes, so the listener table is never emptied by a `delete` (a slow-mode object).
    socket.on('error', onSocketError)
    for (const listener of socket.listeners('error')) if (listener !== onSocketError) socket.off('error', listener as () => void)
    // It also routes the upgrade through Fastify with a ServerResponse assigned to the TCP
    // socket, never finished once hijacked: through the response's listeners the socket would
    // keep the request, the reply and their context for its whole life (kilobytes a socket).
    const stream = this.stream
    stream?._httpMessage?.detachSocket?.(stream)
    if (stream) releaseTimer(stream)
    socket.on('ping', onSocketPing)
    socket.on('pong', onSocketPong)
    socket.on('message', onSocketMessage)
    socket.on('close', onSocketClose) // ws emits it once
  }

  /** @internal The socket's 'error' (attach). */
  onError(err: Error): void {
    this.log.debug({ err, client_id: this.id }, 'socket error')
    this.socket.terminate()
  }

  /**
   * @internal A ping or pong (attach). Control frames spend the budget too: ws answers every
   * ping with a pong, so an unmetered ping flood from a peer that does not read would grow the
   * send buffer without bound.
   */
  onControl(pong: boolean): void {
    if (pong) this.awaitingPong = false
    if (!this.closed) this.spend()
  }

  /** @internal One frame (attach). */
  onFrame(data: RawData, isBinary: boolean): void {
    const { socket, opts } = this
    // Once our close frame went out (1001, 1008, 1011) no reply may follow it (RFC 6455), so
    // nothing more is handled: work done now could never be acknowledged.
    if (this.closed || socket.readyState !== socket.OPEN) return
    // Everything below runs inside ws's socket 'data' listener: a throw that escaped would be
    // an uncaught exception for the whole process, so every failure stays on this connection.
    try {
      this.observeFrame('in', data, isBinary)
      if (!this.spend()) return
      // Called as methods: a surface may hand in an object whose methods are its handlers.
      const result = this.registry.draining ? opts.onDrain?.(this, data, isBinary) : opts.onMessage(this, data, isBinary)
      if (result) this.registry.track(this, result)
    } catch (err) {
      this.fail(err)
    }
  }

  /** @internal The socket closed (attach). */
  onClosed(code: number): void {
    this.closed = true
    this.registry.release(this)
    this.observeClosed(code)
    try {
      this.opts.onClose?.(this, code)
    } catch (err) {
      this.log.error({ err, client_id: this.id }, 'close handler failed')
    }
  }

  /** A handler threw: the failure stays on this connection, which closes with 1011. */
  fail(err: unknown): void {
    this.log.error({ err, client_id: this.id, surface: this.surface }, 'handler failed; closing with 1011')
    this.close(CloseCode.INTERNAL_ERROR, CloseReason.INTERNAL)
  }
}

/** Texts from this many characters are sent as UTF-8 bytes encoded once per tick (see encoded()). */
const SHARED_TEXT = 1024
/** Distinct large texts remembered within one tick. */
const SHARED_TEXTS = 8

function forgetEncoded(registry: ConnectionRegistry): void {
  registry.forgetEncoded()
}

export class ConnectionRegistry {
  readonly ids = new ClientIds()
  /** Large texts sent this tick and their UTF-8 bytes (see encoded()). */
  private readonly texts: { text: string; bytes: Buffer }[] = []
  private readonly open = new Set<Conn>()
  private readonly bySurface = new Map<Surface, number>()
  private readonly inflight = new Set<Promise<void>>()
  private readonly wheel: HeartbeatWheel<Conn>
  /** Set once at startup by plugins/metrics.ts; the registry works without one. */
  observer: ConnectionObserver | undefined
  /** Set when the shutdown drain begins: frames go to `onDrain`, no new work starts. */
  draining = false

  constructor(readonly limits: ConnectionLimits) {
    this.wheel = new HeartbeatWheel(limits.pingIntervalS, limits.pingTimeoutS)
  }

  /** Register a just-upgraded socket. Call synchronously in the route's handler. */
  add(socket: WebSocket, opts: OpenOptions): Conn {
    const conn = new Conn(socket, this, opts)
    this.open.add(conn)
    this.bySurface.set(opts.surface, (this.bySurface.get(opts.surface) ?? 0) + 1)
    this.wheel.add(conn)
    try {
      this.observer?.opened(opts.surface)
    } catch (err) {
      opts.log.error({ err }, 'connection observer failed')
    }
    conn.attach()
    return conn
  }

  /**
   * The UTF-8 bytes of a large text frame, encoded once however many sockets it goes to in this
   * tick: ws would encode a string again for every socket, and a broadcast of a 400 KB presence
   * list to thousands of sockets is then mostly encoding. Forgotten at the end of the tick.
   */
  encoded(text: string): Buffer {
    for (const e of this.texts) if (e.text === text) return e.bytes
    const bytes = Buffer.from(text)
    if (this.texts.length === 0) process.nextTick(forgetEncoded, this)
    if (this.texts.length < SHARED_TEXTS) this.texts.push({ text, bytes })
    return bytes
  }

  /** @internal The tick ended: its texts may go. */
  forgetEncoded(): void {
    this.texts.length = 0
  }

  release(conn: Conn): void {
    if (!this.open.delete(conn)) return
    this.bySurface.set(conn.surface, (this.bySurface.get(conn.surface) ?? 1) - 1)
    this.wheel.remove(conn)
    this.ids.release(conn.id)
  }

  track(conn: Conn, work: Promise<void>): void {
    // One link per piece of work (it runs for every async frame): settled, it leaves the set.
    const p: Promise<void> = work.then(() => void this.inflight.delete(p), (err: unknown) => {
      this.inflight.delete(p)
      conn.fail(err)
    })
    this.inflight.add(p)
  }

  get size(): number {
    return this.open.size
  }

  count(surface: Surface): number {
    return this.bySurface.get(surface) ?? 0
  }

  connections(): IterableIterator<Conn> {
    return this.open.values()
  }

  /**
   * Shutdown: from now on frames start no new work (they go to the surface's `onDrain`), work
   * already in flight finishes so its replies still go out, then every connection is closed
   * with 1001 and the close handshakes are awaited; whatever is left is terminated. All of it
   * is bounded by `graceMs`, of which the close handshakes keep a share: a drain that runs
   * long still ends in 1001 frames, not in terminated sockets.
   */
  async closeAll(graceMs: number): Promise<void> {
    this.wheel.stop()
    this.draining = true
    const started = Date.now()
    await this.settle(graceMs - Math.min(CLOSE_HANDSHAKE_MS, graceMs / 2))
    const closes: Promise<void>[] = []
    for (const conn of this.open) {
      closes.push(new Promise((resolve) => conn.socket.once('close', () => resolve())))
      conn.close(CloseCode.GOING_AWAY, CloseReason.SHUTTING_DOWN)
    }
    const wait = delay(graceMs - (Date.now() - started))
    await Promise.race([Promise.all(closes), wait.done])
    wait.cancel()
    for (const conn of this.open) conn.socket.terminate()
  }

  /**
   * Wait until no work is in flight, or `ms` passed. Work tracked while waiting (a frame queued
   * behind a busy one) is waited for too; once the drain began nothing new can start.
   */
  private async settle(ms: number): Promise<void> {
    const deadline = Date.now() + ms
    while (this.inflight.size > 0) {
      const wait = delay(deadline - Date.now())
      await Promise.race([Promise.all(this.inflight), wait.done])
      wait.cancel()
      if (Date.now() >= deadline) return
    }
  }

  stop(): void {
    this.wheel.stop()
  }
}
