// ChatSession: one FastChat connection as the domain sees it: the peer it writes to, the identity
// its HELLO established, and what presence and typing remember about it. ChatPeer: what the route
// hands in for the socket, anything with send/sendDroppable/close/fail (the transport's Conn fits).
import type { Delivery, UserEntry } from '../backplane/backplane.ts'
import { CloseCode, CloseReason } from '../protocol/close-codes.ts'
import type { ErrorCode } from '../protocol/error-codes.ts'
import type { OutText } from '../lib/text-parts.ts'
import { errorFrame } from '../protocol/fastchat.ts'

export interface ChatPeer {
  readonly id: string
  /**
   * A frame the peer must get, with its type for the metrics (and an ERROR's code); false when
   * it could not be handed over. Text in pieces (TextParts) is how PRESENCE lists come.
   */
  send(frame: OutText, label: string, errorCode?: string): boolean
  /** A frame that may be skipped when the peer is slow to read (typing, presence). */
  sendDroppable(frame: OutText, label: string): boolean
  close(code: number, reason: string): void
  /**
   * Work done for this connection outside its turn failed (a stored message landing, a receipt
   * becoming durable): logged, and the connection closes with 1011, as when a handler fails.
   */
  fail(err: unknown): void
}

/** A connection whose HELLO went through. */
export type Identified = ChatSession & { user: UserEntry }

/** The longest delay setTimeout takes; a later token expiry is not worth a timer. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class ChatSession {
  /** Set by a successful HELLO. */
  user: UserEntry | undefined
  /** Opted into `presence_delta`. */
  delta = false
  /** Speaks the FastChat app's flat dialect (SPEC section 10): `peer` renders every frame flat. */
  flat = false
  /** Has the `history` capability (SPEC section 9): stored MSGs carry chat_id and seq. */
  history = false
  /**
   * A flat connection's partner: the target of the last CHAT_OPENED it was sent, which its screen
   * shows. Per connection: two tabs of one user may show two chats (flat.ts, recipient()).
   */
  partner: string | undefined
  /** While its backlog is being handed over: the stored MSGs that arrived live meanwhile, sent after it. */
  backlogHold: Delivery[] | undefined
  /** The presence version this connection last received (-1: no PRESENCE yet), and when. */
  presenceVersion = -1
  presenceSentAt = 0
  private typing: Set<string> | undefined

  /** Users this connection told `is_typing: true` and not yet `false` (made when first needed). */
  get typingTo(): Set<string> {
    return (this.typing ??= new Set())
  }
  closed = false
  private expiry: NodeJS.Timeout | undefined

  constructor(
    /** Replaced once, by a flat HELLO (ChatService.speakFlat), before the session is identified. */
    public peer: ChatPeer,
    /** Service-wide connection name (backplane connRef), to skip the sender's own tab. */
    readonly ref: string,
    /** The token the handshake carried, verified when HELLO arrives. */
    readonly handshakeToken: string | undefined
  ) {}

  /** An ERROR frame to this connection. */
  fail(code: ErrorCode, message: string, details?: Record<string, unknown>): void {
    this.peer.send(errorFrame(code, message, details), 'ERROR', code)
  }

  /** A connection bound to a token ends with it: 1008, the client reconnects with a new one. */
  expireAt(epochMs: number, now = Date.now()): void {
    const delay = Math.max(0, epochMs - now)
    if (delay > MAX_TIMER_MS) return
    this.expiry = setTimeout(() => this.peer.close(CloseCode.POLICY_VIOLATION, CloseReason.TOKEN_EXPIRED), delay)
    this.expiry.unref()
  }

  /** The socket closed: stop timers; the domain's cleanup follows (ChatService.disconnect). */
  close(): void {
    this.closed = true
    clearTimeout(this.expiry)
  }
}
