// One connection's conversation with a consumer: the handshake's token first, then each action
// frame validated, run and followed by `complete`. The transport hands frames in one at a time
// (src/transport), so a handler that awaits holds the frames after it: replies keep their order.
import { onTokenExpiry, type VerifiedUser } from '../auth/tokens.ts'
import { CloseCode, CloseReason } from '../protocol/close-codes.ts'
import { authenticationFrame, COMPLETE, HANDLER_FAILED } from '../protocol/action.ts'
import type { Consumer, ConsumerContext } from './consumer.ts'

/** Where a session writes: the transport's Conn fits. */
export interface ActionPeer {
  send(frame: string, label: string): boolean
  /** Close the connection (4403 after a refused token, 1008 when the token expires). */
  close(code: number, reason: string): void
  readonly log: { error(obj: object, msg: string): void }
}

export class ActionSession {
  user: VerifiedUser | null = null
  private readonly ctx: ConsumerContext
  private cancelExpiry = () => {}
  private closed = false

  constructor(
    private readonly consumer: Consumer,
    private readonly peer: ActionPeer,
    private readonly sendCompletion: boolean
  ) {
    const user = () => this.user
    this.ctx = {
      get user() {
        return user()
      },
      send: (action, payload) => void peer.send(JSON.stringify({ action, payload }), `action:${action}`)
    }
  }

  /** The handshake carried a token: verify it (the route runs this before any frame). */
  async authenticate(verify: () => Promise<VerifiedUser | null>): Promise<void> {
    const user = await verify()
    this.peer.send(authenticationFrame(user !== null), 'action:authentication')
    if (!user) {
      this.peer.close(CloseCode.FORBIDDEN, CloseReason.FORBIDDEN)
      return
    }
    this.user = user
    // Authenticated until the token expires, then closed: never kept with a stale identity.
    if (!this.closed) this.cancelExpiry = onTokenExpiry(user, () => this.peer.close(CloseCode.POLICY_VIOLATION, CloseReason.TOKEN_EXPIRED))
    this.consumer.def.onAuthenticated?.(this.ctx)
    this.complete()
  }

  /** The connection closed: no expiry timer outlives it. */
  close(): void {
    this.closed = true
    this.cancelExpiry()
  }

  /** One parsed action-dialect frame. */
  async handle(msg: Record<string, unknown>): Promise<void> {
    const v = this.consumer.validate(msg)
    if (!v.ok) {
      this.peer.send(JSON.stringify({ action: 'error', payload: v.errors }), 'action:error')
    } else {
      try {
        await this.consumer.run(v.action, v.payload, this.ctx)
      } catch (err) {
        this.peer.log.error({ err, consumer: this.consumer.name, action: v.action }, 'consumer handler failed')
        this.peer.send(HANDLER_FAILED, 'action:error')
      }
    }
    this.complete()
  }

  private complete(): void {
    if (this.sendCompletion) this.peer.send(COMPLETE, 'action:complete')
  }
}
