// One WebSocket connection to one walker (SPEC section 6). Messages run one at a time in the
// order they arrived, the connection's authentication lives here, and replies of broadcast
// walkers come back through the broadcaster like everyone else's.
//
// The queue is the session's own state, not a promise chain: a frame that arrives while
// nothing is pending is handled at once. While a walker has not finished (or a token is being
// verified), later frames wait in `waiting` and run in order once it has, from its promise's
// reaction: no chain link, async frame or tracked promise per message.
import type { RawData } from 'ws'
import { onTokenExpiry, type TokenVerifier, type VerifiedUser } from '../auth/tokens.ts'
import type { Conn } from '../transport/connections.ts'
import { CloseCode, CloseReason } from '../protocol/close-codes.ts'
import { Replies, type WalkerReply } from '../protocol/walker.ts'
import type { WalkerBroadcaster } from './broadcast.ts'
import type { WalkerLogger } from './define.ts'
import { isReply, parseInput, PENDING, runWalker, type RunOptions } from './execute.ts'
import type { LoadedWalker, WalkerRegistry } from './registry.ts'

/**
 * Messages a connection may have waiting behind a slow walker. The frame budget bounds the
 * rate, not the backlog: without this a client could park WS_FRAMES_PER_SEC × WALKER_TIMEOUT_MS
 * frames in memory.
 */
export const MAX_QUEUED_MESSAGES = 64

/** A binary frame in the queue: it is refused whatever it holds, so its bytes are not kept. */
const BINARY = Symbol('binary frame')

export interface SessionDeps {
  registry: WalkerRegistry
  verifier: Pick<TokenVerifier, 'verify'>
  broadcaster: WalkerBroadcaster
  timeoutMs: number
}

export class WalkerSession {
  /** Frames that arrived while another was pending, oldest first. */
  private readonly waiting: (RawData | typeof BINARY)[] = []
  /** A frame is being handled past its arrival (a token check, a walker that had not finished). */
  private busy = false
  /** The handshake's token is being verified: frames wait until it is. */
  private verifying: boolean
  /**
   * Resolves the promise the connection registry tracks while this session has work pending,
   * so a shutdown drain waits for it; one per busy spell, not one per frame.
   */
  private release: (() => void) | undefined
  /** The walker whose execution is pending (a hot reload may replace the registry's meanwhile). */
  private running: LoadedWalker | undefined
  /** Called by a pending execution with its reply; one function per session. */
  private readonly settled = (reply: WalkerReply | undefined): void => this.settle(reply)
  private user: VerifiedUser | null = null
  private conn: Conn | undefined
  private unsubscribe: (() => void) | undefined
  /** Cancels the close scheduled for when the connection's token expires. */
  private cancelExpiry = () => {}
  /** Aborts the running execution's ctx.signal when the socket closes. */
  private readonly gone = new AbortController()
  /** Every execution's options but the user; made once. */
  private readonly runOptions: RunOptions

  constructor(readonly walker: string, private readonly deps: SessionDeps, private log: WalkerLogger, handshakeToken: string | undefined) {
    this.runOptions = { log, signal: this.gone.signal, timeoutMs: deps.timeoutMs }
    // Verified before the first message runs, not before listeners attach (no frame is lost).
    this.verifying = handshakeToken !== undefined
    if (handshakeToken !== undefined) {
      deps.verifier.verify(handshakeToken).then((user) => {
        this.verifying = false
        if (user) this.authenticate(user)
        this.next()
      }, (err: unknown) => {
        this.verifying = false
        this.conn?.fail(err)
        this.next()
      })
    }
  }

  /** Call right after the connection registry opened the socket. */
  start(conn: Conn): void {
    this.conn = conn
    this.log = this.log.child({ client_id: conn.id })
    this.runOptions.log = this.log
    this.unsubscribe = this.deps.broadcaster.subscribe(this.walker, (frame) => this.deliverBroadcast(frame))
  }

  close(): void {
    this.gone.abort(new Error('client disconnected'))
    this.unsubscribe?.()
    this.cancelExpiry()
  }

  /**
   * The connection is authenticated by `user`'s token until it expires; then it is closed with
   * 1008 "token expired" rather than kept open with a stale identity. A newer token (in a
   * message) replaces the older one and its expiry.
   */
  private authenticate(user: VerifiedUser): void {
    if (this.gone.signal.aborted) return // closed while the token was being verified: no timer to leave behind
    this.user = user
    this.cancelExpiry()
    this.cancelExpiry = onTokenExpiry(user, () => {
      this.log.info('token expired; closing with 1008')
      this.conn?.close(CloseCode.POLICY_VIOLATION, CloseReason.TOKEN_EXPIRED)
    })
  }

  /**
   * One frame, handled at once when nothing is pending, else queued behind what is. Returns a
   * promise only when this frame starts a spell of pending work: the registry tracks it, and it
   * settles once every frame of the spell has been answered.
   */
  enqueue(conn: Conn, data: RawData, isBinary: boolean): Promise<void> | undefined {
    this.conn = conn
    if (this.busy || this.verifying || this.waiting.length > 0) {
      if (this.waiting.length + (this.busy ? 1 : 0) >= MAX_QUEUED_MESSAGES) return this.refuse(conn)
      this.waiting.push(isBinary ? BINARY : data)
      return this.hold()
    }
    if (!this.step(conn, isBinary ? BINARY : data)) return undefined
    this.busy = true
    return this.hold()
  }

  /** The queue is full: the connection closes with 1008. */
  private refuse(conn: Conn): undefined {
    // Frames still arriving during the close handshake are dropped without another log line.
    if (conn.socket.readyState !== conn.socket.OPEN) return undefined
    this.log.warn({ queued: this.waiting.length + (this.busy ? 1 : 0) }, 'too many messages waiting; closing with 1008')
    conn.close(CloseCode.POLICY_VIOLATION, CloseReason.QUEUE_FULL)
    return undefined
  }

  /** A promise for the registry when a busy spell begins; undefined while one is tracked already. */
  private hold(): Promise<void> | undefined {
    if (this.release) return undefined
    return new Promise<void>((resolve) => {
      this.release = resolve
    })
  }

  /** The pending frame was answered: run the waiting ones until one is pending, or none is left. */
  private next(): void {
    this.busy = false
    const conn = this.conn
    while (conn && !this.verifying && this.waiting.length > 0) {
      if (this.step(conn, this.waiting.shift()!)) {
        this.busy = true
        return
      }
    }
    if (this.verifying || this.waiting.length > 0) return
    const release = this.release
    this.release = undefined
    release?.()
  }

  /**
   * Handle one frame; true when its answer is pending (settle() or next() comes later). A
   * failure stays on this connection (1011), and the frames after it still get their turn.
   */
  private step(conn: Conn, data: RawData | typeof BINARY): boolean {
    try {
      return this.handle(conn, data)
    } catch (err) {
      this.running = undefined
      conn.fail(err)
      return false
    }
  }

  /** The connection's user while its token is unexpired. */
  private currentUser(): VerifiedUser | null {
    const u = this.user
    return u && (u.expiresAt === undefined || Date.now() < u.expiresAt) ? u : null
  }

  private handle(conn: Conn, data: RawData | typeof BINARY): boolean {
    // A closing socket (the 1008 above, the client's own close) gets nothing more run for it.
    if (conn.socket.readyState !== conn.socket.OPEN) return false
    // Looked up per message: a hot reload changes what the next message runs.
    const walker = this.deps.registry.get(this.walker)
    if (!walker) return this.closeWith(conn, CloseCode.WALKER_NOT_FOUND, CloseReason.WALKER_NOT_FOUND)
    if (walker.protocol !== 'websocket') return this.closeWith(conn, CloseCode.WALKER_NOT_WEBSOCKET, CloseReason.WALKER_NOT_WEBSOCKET)
    if (data === BINARY) return this.reply(conn, Replies.BINARY)

    const message = parseInput((data as Buffer).toString())
    if (isReply(message)) return this.reply(conn, message)
    // JSON has no undefined: without a token key the parsed object (ours) is the input as is.
    if (message.token !== undefined) return this.withToken(conn, walker, message)
    const user = this.currentUser()
    if (!walker.public && !user) return this.reply(conn, Replies.UNAUTHORIZED)
    return this.execute(conn, walker, message, user)
  }

  /** A message carrying a token: a good one authenticates the connection, a bad one changes nothing. */
  private withToken(conn: Conn, walker: LoadedWalker, message: Record<string, unknown>): boolean {
    const { token, ...input } = message
    const user = this.currentUser()
    if (typeof token !== 'string') {
      if (!walker.public) return this.reply(conn, Replies.UNAUTHORIZED)
      return this.execute(conn, walker, input, user)
    }
    this.deps.verifier.verify(token).then(
      (verified) => this.afterVerify(conn, walker, input, verified, user),
      (err: unknown) => {
        conn.fail(err)
        this.next()
      })
    return true
  }

  /** The message's token was checked: run the walker as its user, or refuse. Never throws. */
  private afterVerify(conn: Conn, walker: LoadedWalker, input: Record<string, unknown>, verified: VerifiedUser | null, user: VerifiedUser | null): void {
    try {
      if (verified) this.authenticate(verified)
      // A bad token changes nothing on a public walker; elsewhere it is refused.
      else if (!walker.public) return this.finish(conn, Replies.UNAUTHORIZED)
      if (this.execute(conn, walker, input, verified ?? user)) return
    } catch (err) {
      this.running = undefined
      conn.fail(err)
    }
    this.next()
  }

  /** Run the walker; true when its reply is pending (then settle() gets it). */
  private execute(conn: Conn, walker: LoadedWalker, input: Record<string, unknown>, user: VerifiedUser | null): boolean {
    this.running = walker
    const reply = runWalker(walker, input, user, this.runOptions, this.settled)
    if (reply === PENDING) return true
    this.running = undefined
    if (reply) this.answer(conn, walker, reply)
    return false
  }

  /** A pending execution's outcome (undefined: the client went away). Never throws: it runs in timers and listeners. */
  private settle(reply: WalkerReply | undefined): void {
    const walker = this.running!
    this.running = undefined
    const conn = this.conn!
    try {
      if (reply) this.answer(conn, walker, reply)
    } catch (err) {
      conn.fail(err)
    }
    this.next()
  }

  /** Answer a pending frame with a fixed reply, then go on. */
  private finish(conn: Conn, reply: WalkerReply): void {
    try {
      this.reply(conn, reply)
    } catch (err) {
      conn.fail(err)
    }
    this.next()
  }

  private answer(conn: Conn, walker: LoadedWalker, reply: WalkerReply): void {
    if (walker.broadcast && reply.status === 200) this.deps.broadcaster.publish(this.walker, reply.frame)
    else this.reply(conn, reply)
  }

  /** Close the connection; false, as nothing more is pending for the frame. */
  private closeWith(conn: Conn, code: number, reason: string): false {
    conn.close(code, reason)
    return false
  }

  /** Send a reply; false, as the frame is answered. */
  private reply(conn: Conn, reply: WalkerReply): false {
    conn.send(reply.frame)
    return false
  }

  private deliverBroadcast(frame: string): void {
    const conn = this.conn
    if (!conn || conn.closed) return
    // An authenticated walker's replies are for authenticated sockets only.
    const walker = this.deps.registry.get(this.walker)
    if (!walker || (!walker.public && !this.currentUser())) return
    conn.send(frame)
  }
}
