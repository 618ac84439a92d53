// One WebSocket connection to one walker (SPEC section 6). Messages run one at a time in the
// order they arrived (a promise chain), the connection's authentication lives here, and replies
// of broadcast walkers come back through the broadcaster like everyone else's.
import type { RawData } from 'ws'
import { onTokenExpiry, type TokenVerifier, type VerifiedUser } from '../auth/tokens.ts'
import type { Conn } from '../transport/connections.ts'
import { CloseCode, CloseReason } from '../protocol/close-codes.ts'
import { Replies, type WalkerReply } from '../protocol/walker.ts'
import type { WalkerBroadcaster } from './broadcast.ts'
import type { WalkerLogger } from './define.ts'
import { executeWalker, isReply, parseInput } from './execute.ts'
import type { WalkerRegistry } from './registry.ts'

/**
 * Messages a connection may have waiting behind a slow walker. The frame budget bounds the
 * rate, not the backlog: without this a client could park WS_FRAMES_PER_SEC × WALKER_TIMEOUT_MS
 * frames in memory.
 */
export const MAX_QUEUED_MESSAGES = 64

export interface SessionDeps {
  registry: WalkerRegistry
  verifier: Pick<TokenVerifier, 'verify'>
  broadcaster: WalkerBroadcaster
  timeoutMs: number
}

export class WalkerSession {
  private tail: Promise<void>
  private queued = 0
  /** The handshake's token is being verified: frames wait behind it on the chain. */
  private verifying: boolean
  /** One function per session, not a closure per frame, to count a frame answered. */
  private readonly answered = () => {
    this.queued--
  }
  private user: VerifiedUser | null = null
  private conn: Conn | undefined
  private unsubscribe: (() => void) | undefined
  /** Cancels the close scheduled for when the connection's token expires. */
  private cancelExpiry = () => {}
  /** Aborts the running execution's ctx.signal when the socket closes. */
  private readonly gone = new AbortController()

  constructor(readonly walker: string, private readonly deps: SessionDeps, private log: WalkerLogger, handshakeToken: string | undefined) {
    // Verified before the first message runs, not before listeners attach (no frame is lost).
    this.verifying = handshakeToken !== undefined
    this.tail = handshakeToken === undefined
      ? Promise.resolve()
      : deps.verifier.verify(handshakeToken).then((user) => {
        this.verifying = false
        if (user) this.authenticate(user)
      })
  }

  /** Call right after the connection registry opened the socket. */
  start(conn: Conn): void {
    this.conn = conn
    this.log = this.log.child({ client_id: conn.id })
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

  /** Queue one frame behind the ones before it; the promise settles when it has been answered. */
  enqueue(conn: Conn, data: RawData, isBinary: boolean): Promise<void> | undefined {
    if (this.queued >= MAX_QUEUED_MESSAGES) {
      // Frames still arriving during the close handshake are dropped without another log line.
      if (conn.socket.readyState !== conn.socket.OPEN) return undefined
      this.log.warn({ queued: this.queued }, 'too many messages waiting; closing with 1008')
      conn.close(CloseCode.POLICY_VIOLATION, CloseReason.QUEUE_FULL)
      return undefined
    }
    this.queued++
    // With nothing queued or running the frame runs at once: no link is added to the chain.
    const work = this.queued === 1 && !this.verifying ? this.handle(conn, data, isBinary) : this.tail.then(() => this.handle(conn, data, isBinary))
    // The chain goes on after a failure; the failure itself reaches the registry through `work`.
    this.tail = work.then(this.answered, this.answered)
    return work
  }

  /** The connection's user while its token is unexpired. */
  private currentUser(): VerifiedUser | null {
    const u = this.user
    return u && (u.expiresAt === undefined || Date.now() < u.expiresAt) ? u : null
  }

  private async handle(conn: Conn, data: RawData, isBinary: boolean): Promise<void> {
    // A closing socket (the 1008 above, the client's own close) gets nothing more run for it.
    if (conn.socket.readyState !== conn.socket.OPEN) return
    // Looked up per message: a hot reload changes what the next message runs.
    const walker = this.deps.registry.get(this.walker)
    if (!walker) return conn.close(CloseCode.WALKER_NOT_FOUND, CloseReason.WALKER_NOT_FOUND)
    if (walker.protocol !== 'websocket') return conn.close(CloseCode.WALKER_NOT_WEBSOCKET, CloseReason.WALKER_NOT_WEBSOCKET)
    if (isBinary) return this.reply(conn, Replies.BINARY)

    const message = parseInput((data as Buffer).toString())
    if (isReply(message)) return this.reply(conn, message)
    const { token, ...input } = message

    let user = this.currentUser()
    if (token !== undefined) {
      const verified = typeof token === 'string' ? await this.deps.verifier.verify(token) : null
      // A good token authenticates the connection until it expires; a bad one changes nothing.
      if (verified) {
        this.authenticate(verified)
        user = verified
      } else if (!walker.public) {
        return this.reply(conn, Replies.UNAUTHORIZED)
      }
    }
    if (!walker.public && !user) return this.reply(conn, Replies.UNAUTHORIZED)

    const reply = await executeWalker(walker, input, { user, log: this.log, signal: this.gone.signal, timeoutMs: this.deps.timeoutMs })
    if (!reply) return
    if (walker.broadcast && reply.status === 200) this.deps.broadcaster.publish(this.walker, reply.frame)
    else this.reply(conn, reply)
  }

  private reply(conn: Conn, reply: WalkerReply): void {
    conn.send(reply.frame)
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
