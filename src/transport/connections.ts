// Every open WebSocket connection: the registry surfaces open their sockets through (ids,
// heartbeat wheel, counts per surface, the metrics observer) and the shutdown drain.
import type { WebSocket } from 'ws'
import type { FastifyBaseLogger } from 'fastify'
import { ClientIds } from '../lib/client-id.ts'
import { CloseCode, CloseReason } from '../protocol/close-codes.ts'
import { HeartbeatWheel } from './heartbeat-wheel.ts'
import { Conn, type FrameLabel, type Handler, type Surface, type SurfaceOptions } from './conn.ts'

export { Conn, type FrameLabel, type Handler, type Surface, type SurfaceOptions } from './conn.ts'

export interface ConnectionLimits {
  pingIntervalS: number
  pingTimeoutS: number
  framesPerSec: number
  frameBurst: number
  sendSoftCap: number
  sendHardCap: number
}

/** Told of every connection's life and frames (metrics); must not throw. */
export interface ConnectionObserver {
  opened(surface: Surface): void
  /** One frame, by the label its sender (out) or handler (in) gave it. */
  frame(surface: Surface, direction: 'in' | 'out', label: FrameLabel): void
  /** An error reply went out with this code. */
  error(code: string): void
  closed(surface: Surface, code: number): void
}

/** The share of the shutdown grace kept for close handshakes after in-flight work (at most half). */
const CLOSE_HANDSHAKE_MS = 2000
/** Distinct large texts remembered within one tick. */
const SHARED_TEXTS = 8

/** A timer as a promise, cancellable so no drain leaves one behind; unref'd, it never holds the process. */
function delay(ms: number): { done: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined
  const done = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms))
    timer.unref()
  })
  return { done, cancel: () => clearTimeout(timer) }
}

function forgetEncoded(registry: ConnectionRegistry): void {
  registry.forgetEncoded()
}

export class ConnectionRegistry {
  readonly ids = new ClientIds()
  /** Large texts sent this tick and their UTF-8 bytes (see encoded()). */
  private readonly texts: { text: string; bytes: Buffer }[] = []
  private readonly all = new Set<Conn>()
  private readonly bySurface = new Map<Surface, number>()
  /** Connections with work pending; the drain waits for them. */
  private readonly working = new Set<Conn>()
  /** Called when `working` empties (the drain waiting for it). */
  private settled: (() => void) | undefined
  private readonly wheel: HeartbeatWheel<Conn>
  /** Set once at startup by plugins/metrics.ts; the registry works without one. */
  observer: ConnectionObserver | undefined
  /** Set when the shutdown drain begins: frames go to Handler.drain, no new work starts. */
  draining = false

  constructor(readonly limits: ConnectionLimits, readonly log: FastifyBaseLogger) {
    this.wheel = new HeartbeatWheel(limits.pingIntervalS, limits.pingTimeoutS)
  }

  /**
   * Register a just-upgraded socket and the surface's handler for it, built with its Conn.
   * Call synchronously in the route's handler: frames that arrive meanwhile are not lost.
   */
  add(socket: WebSocket, surface: SurfaceOptions, reqId: string, build: (conn: Conn) => Handler): Conn {
    const conn = new Conn(socket, this, surface, reqId)
    this.all.add(conn)
    this.bySurface.set(surface.surface, (this.bySurface.get(surface.surface) ?? 0) + 1)
    this.wheel.add(conn)
    this.observe(conn, (o) => o.opened(surface.surface))
    conn.attach()
    try {
      conn.use(build(conn))
    } catch (err) {
      conn.use(NO_HANDLER)
      conn.fail(err)
    }
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

  /**
   * @internal One frame of `conn`. Metrics must never cost a connection or the process: a
   * throwing observer is only logged. Called for every frame, so it takes plain arguments.
   */
  observeFrame(conn: Conn, direction: 'in' | 'out', label: FrameLabel, errorCode?: string): void {
    const observer = this.observer
    if (!observer) return
    try {
      observer.frame(conn.surface, direction, label)
      if (errorCode !== undefined) observer.error(errorCode)
    } catch (err) {
      conn.log.error({ err }, 'connection observer failed')
    }
  }

  private observe(conn: Conn, report: (observer: ConnectionObserver) => void): void {
    if (!this.observer) return
    try {
      report(this.observer)
    } catch (err) {
      conn.log.error({ err }, 'connection observer failed')
    }
  }

  /** @internal `conn` has work pending. */
  busy(conn: Conn): void {
    this.working.add(conn)
  }

  /** @internal `conn`'s pending work is done. */
  idle(conn: Conn): void {
    if (this.working.delete(conn) && this.working.size === 0) this.settled?.()
  }

  /** @internal The socket closed. */
  release(conn: Conn, code: number): void {
    if (!this.all.delete(conn)) return
    this.bySurface.set(conn.surface, (this.bySurface.get(conn.surface) ?? 1) - 1)
    this.wheel.remove(conn)
    this.ids.release(conn.id)
    this.observe(conn, (o) => o.closed(conn.surface, code))
  }

  get size(): number {
    return this.all.size
  }

  count(surface: Surface): number {
    return this.bySurface.get(surface) ?? 0
  }

  connections(): IterableIterator<Conn> {
    return this.all.values()
  }

  /**
   * Shutdown: from now on frames start no new work (they go to the surface's `drain`), work
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
    for (const conn of this.all) {
      closes.push(conn.whenClosed())
      conn.close(CloseCode.GOING_AWAY, CloseReason.SHUTTING_DOWN)
    }
    const wait = delay(graceMs - (Date.now() - started))
    await Promise.race([Promise.all(closes), wait.done])
    wait.cancel()
    for (const conn of this.all) conn.terminate()
  }

  /** Wait until no connection has work pending, or `ms` passed. */
  private async settle(ms: number): Promise<void> {
    if (this.working.size === 0) return
    const wait = delay(ms)
    const done = new Promise<void>((resolve) => {
      this.settled = resolve
    })
    await Promise.race([done, wait.done])
    this.settled = undefined
    wait.cancel()
  }

  stop(): void {
    this.wheel.stop()
  }
}

/** A connection whose surface failed to build its handler: it is closing (1011) and handles nothing. */
const NO_HANDLER: Handler = { message() {} }
