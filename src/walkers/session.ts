// One WebSocket connection to one walker (SPEC section 6): the connection's authentication,
// each message run as its user, and the replies of broadcast walkers, which come back through
// the broadcaster like everyone else's. The transport hands messages in one at a time, in the
// order they arrived; a walker that has not finished holds the ones after it.
import { onTokenExpiry, type TokenVerifier, type VerifiedUser } from '../auth/tokens.ts'
import type { Conn, Handler } from '../transport/connections.ts'
import type { Awaitable } from '../lib/awaitable.ts'
import { CloseCode, CloseReason } from '../protocol/close-codes.ts'
import { Replies, type WalkerReply } from '../protocol/walker.ts'
import type { Fanout } from '../backplane/backplane.ts'
import type { WalkerLogger } from './define.ts'
import { isReply, parseInput, runWalker, Watchlist, type Answer, type RunOptions } from './execute.ts'
import type { LoadedWalker, WalkerRegistry } from './registry.ts'
import { userOfMessageToken } from './message-token.ts'

/**
 * Messages a connection may have waiting behind a slow walker. The frame budget bounds the
 * rate, not the backlog: without this a client could park WS_FRAMES_PER_SEC × WALKER_TIMEOUT_MS
 * frames in memory.
 */
export const MAX_QUEUED_MESSAGES = 64

export interface SessionDeps {
  registry: WalkerRegistry
  verifier: Pick<TokenVerifier, 'verify'>
  /** The backplane's walker fan-out: topics are walker names. */
  broadcaster: Fanout
  timeoutMs: number
}

/** The metrics label of a walker reply (the envelope's `ok`). */
const labelOf = (reply: WalkerReply) => (reply.status === 200 ? 'reply_ok' : 'reply_error')

export class WalkerSession implements Handler {
  private user: VerifiedUser | null = null
  private readonly log: WalkerLogger
  private readonly unsubscribe: () => void
  /** Cancels the close scheduled for when the connection's token expires. */
  private cancelExpiry = () => {}
  /** Aborts the running execution's ctx.signal when the socket closes. */
  private readonly gone = new AbortController()
  /** Every execution's options but the user; made once. */
  private readonly runOptions: RunOptions
  /** The walker of the message being run (the transport runs one at a time; a hot reload may swap the registry's). */
  private running: LoadedWalker | undefined
  /** Where its reply goes; one function per session. */
  private readonly answered: Answer = (reply) => this.answer(this.running!, reply)

  constructor(private readonly conn: Conn, readonly walker: string, private readonly deps: SessionDeps, handshakeToken: string | undefined) {
    this.log = conn.log.child({ walker })
    this.runOptions = { log: this.log, signal: this.gone.signal, timeoutMs: deps.timeoutMs, watchlist: new Watchlist() }
    // Verified before the first message runs, not before listeners attach (no frame is lost).
    if (handshakeToken !== undefined) conn.run(() => this.verifyHandshake(handshakeToken))
    this.unsubscribe = deps.broadcaster.subscribe(walker, (frame) => this.deliverBroadcast(frame))
  }

  closed(): void {
    this.gone.abort(new Error('client disconnected'))
    this.unsubscribe()
    this.cancelExpiry()
  }

  message(text: Buffer): Awaitable<void> {
    const conn = this.conn
    // Looked up per message: a hot reload changes what the next message runs.
    const walker = this.deps.registry.get(this.walker)
    if (!walker) return conn.close(CloseCode.WALKER_NOT_FOUND, CloseReason.WALKER_NOT_FOUND)
    if (walker.protocol !== 'websocket') return conn.close(CloseCode.WALKER_NOT_WEBSOCKET, CloseReason.WALKER_NOT_WEBSOCKET)
    conn.receivedAs('walker_input')
    const message = parseInput(text.toString())
    if (isReply(message)) return this.reply(message)
    // JSON has no undefined: without a token key the parsed object (ours) is the input as is.
    if (message.token !== undefined) return this.withToken(walker, message)
    const user = this.currentUser()
    if (!walker.public && !user) return this.reply(Replies.UNAUTHORIZED)
    return this.execute(walker, message, user)
  }

  private async verifyHandshake(token: string): Promise<void> {
    const user = await this.deps.verifier.verify(token)
    if (user) this.authenticate(user)
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
      this.conn.close(CloseCode.POLICY_VIOLATION, CloseReason.TOKEN_EXPIRED)
    })
  }

  /** The connection's user while its token is unexpired. */
  private currentUser(): VerifiedUser | null {
    const u = this.user
    return u && (u.expiresAt === undefined || Date.now() < u.expiresAt) ? u : null
  }

  /** A message carrying a token: a good one authenticates the connection, a bad one changes nothing (message-token.ts). */
  private async withToken(walker: LoadedWalker, message: Record<string, unknown>): Promise<void> {
    const { token, ...input } = message
    const runs = await userOfMessageToken(walker, token, this.currentUser(), this.deps.verifier)
    if (isReply(runs)) return this.reply(runs)
    if (runs.verified) this.authenticate(runs.user!)
    return this.execute(walker, input, runs.user)
  }

  private execute(walker: LoadedWalker, input: Record<string, unknown>, user: VerifiedUser | null): Awaitable<void> {
    this.running = walker
    return runWalker(walker, input, user, this.runOptions, this.answered)
  }

  /** A broadcast walker's success goes to every socket on it (this one too); anything else to this one. */
  private answer(walker: LoadedWalker, reply: WalkerReply | undefined): void {
    if (!reply) return // the client went away first
    if (walker.broadcast && reply.status === 200) this.deps.broadcaster.publish(this.walker, reply.frame)
    else this.reply(reply)
  }

  private reply(reply: WalkerReply): void {
    this.conn.send(reply.frame, labelOf(reply), reply.status === 200 ? undefined : reply.code)
  }

  private deliverBroadcast(frame: string): void {
    if (!this.conn.open) return
    // An authenticated walker's replies are for authenticated sockets only.
    const walker = this.deps.registry.get(this.walker)
    if (!walker || (!walker.public && !this.currentUser())) return
    this.conn.send(frame, 'reply_ok')
  }
}
