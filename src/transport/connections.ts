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

export class Conn implements Beating {
  readonly id: string
  readonly surface: Surface
  /** Date.now() at open: ages are reported from it. */
  readonly openedAt = Date.now()
  awaitingPong = false
  /** Heartbeats sent, and `{"type":"pong"}` answers counted (/ws/health's get_status). */
  pingsSent = 0
  appPongs = 0
  closed = false
  private tokens: number
  private refilledAt = this.openedAt

  constructor(
    readonly socket: WebSocket,
    private readonly registry: ConnectionRegistry,
    private readonly opts: OpenOptions
  ) {
    this.id = registry.ids.next(opts.prefix)
    this.surface = opts.surface
    this.tokens = registry.limits.frameBurst
  }

  get log(): FastifyBaseLogger {
    return this.opts.log
  }

  /** Send a frame the peer must get. A peer buffering past the hard cap is terminated. */
  send(data: string | Buffer): boolean {
    if (this.closed || this.socket.readyState !== 1) return false
    if (this.socket.bufferedAmount > this.registry.limits.sendHardCap) {
      this.log.warn({ client_id: this.id, buffered: this.socket.bufferedAmount }, 'slow reader terminated')
      this.socket.terminate()
      return false
    }
    this.socket.send(data, TEXT)
    this.registry.observer?.frame(this.surface, 'out', data, false)
    return true
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
    if (this.socket.readyState === 0 || this.socket.readyState === 1) this.socket.close(code, reason)
  }

  beat(): void {
    this.awaitingPong = true
    this.pingsSent++
    this.socket.ping()
    this.opts.onBeat?.(this)
  }

  expire(): void {
    this.log.info({ client_id: this.id }, 'no pong within WS_PING_TIMEOUT; terminating')
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

  /** Attach listeners synchronously: frames that arrive before this returns are not lost. */
  attach(): void {
    const { socket, opts } = this
    // @fastify/websocket's own error listener closes over the upgrade's request and reply, which
    // would stay alive as long as the socket; this one needs only the connection.
    socket.removeAllListeners('error')
    socket.on('error', (err) => {
      this.log.debug({ err, client_id: this.id }, 'socket error')
      socket.terminate()
    })
    socket.on('pong', () => {
      this.awaitingPong = false
    })
    socket.on('message', (data, isBinary) => {
      if (this.closed) return
      this.registry.observer?.frame(this.surface, 'in', data, isBinary)
      if (!this.admitFrame()) {
        this.log.warn({ client_id: this.id }, 'frame budget exceeded; closing with 1008')
        this.closed = true
        socket.close(CloseCode.POLICY_VIOLATION, CloseReason.FLOOD)
        return
      }
      try {
        const result = opts.onMessage(this, data, isBinary)
        if (result) this.registry.track(this, result)
      } catch (err) {
        this.fail(err)
      }
    })
    socket.once('close', (code) => {
      this.closed = true
      this.registry.release(this)
      this.registry.observer?.closed(this.surface, code)
      try {
        opts.onClose?.(this, code)
      } catch (err) {
        this.log.error({ err, client_id: this.id }, 'close handler failed')
      }
    })
  }

  /** A handler threw: the failure stays on this connection, which closes with 1011. */
  fail(err: unknown): void {
    this.log.error({ err, client_id: this.id, surface: this.surface }, 'handler failed; closing with 1011')
    this.close(CloseCode.INTERNAL_ERROR, CloseReason.INTERNAL)
  }
}

export class ConnectionRegistry {
  readonly ids = new ClientIds()
  private readonly open = new Set<Conn>()
  private readonly bySurface = new Map<Surface, number>()
  private readonly inflight = new Set<Promise<void>>()
  private readonly wheel: HeartbeatWheel<Conn>
  /** Set once at startup by plugins/metrics.ts; the registry works without one. */
  observer: ConnectionObserver | undefined

  constructor(readonly limits: ConnectionLimits) {
    this.wheel = new HeartbeatWheel(limits.pingIntervalS, limits.pingTimeoutS)
  }

  /** Register a just-upgraded socket. Call synchronously in the route's handler. */
  add(socket: WebSocket, opts: OpenOptions): Conn {
    const conn = new Conn(socket, this, opts)
    this.open.add(conn)
    this.bySurface.set(opts.surface, (this.bySurface.get(opts.surface) ?? 0) + 1)
    this.wheel.add(conn)
    this.observer?.opened(opts.surface)
    conn.attach()
    return conn
  }

  release(conn: Conn): void {
    if (!this.open.delete(conn)) return
    this.bySurface.set(conn.surface, (this.bySurface.get(conn.surface) ?? 1) - 1)
    this.wheel.remove(conn)
    this.ids.release(conn.id)
  }

  track(conn: Conn, work: Promise<void>): void {
    const p = work.catch((err) => conn.fail(err)).finally(() => this.inflight.delete(p))
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
   * Shutdown: let in-flight work finish so its replies still go out, close every connection
   * with 1001, wait for the close handshakes, then terminate whatever is left. All of it is
   * bounded by `graceMs`.
   */
  async closeAll(graceMs: number): Promise<void> {
    this.wheel.stop()
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs)
      timer.unref()
    })
    await Promise.race([Promise.all(this.inflight), deadline])
    const closes: Promise<void>[] = []
    for (const conn of this.open) {
      closes.push(new Promise((resolve) => conn.socket.once('close', () => resolve())))
      conn.close(CloseCode.GOING_AWAY, CloseReason.SHUTTING_DOWN)
    }
    await Promise.race([Promise.all(closes), deadline])
    clearTimeout(timer)
    for (const conn of this.open) conn.socket.terminate()
  }

  stop(): void {
    this.wheel.stop()
  }
}
