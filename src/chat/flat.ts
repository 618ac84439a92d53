// The FastChat app's flat dialect (SPEC section 10) as the chat service sees it: each flat
// connection writes through a FlatPeer, which renders every enveloped frame flat; and since the
// app's MSG and TYPING name no recipient, each flat user has a current partner, set by every
// CHAT_OPENED the user is sent (the app selects whatever CHAT_OPENED names, so routing follows
// the screen). The current partner is kept in the history store when there is one (it survives
// a restart there, and Redis shares it), else in the backplane's expiring keys, so a tab that
// reconnects to another instance or after a deploy still has its chat. docs/fastchat.md, "The FastChat app's flat dialect", says
// why each choice.
import type { KeyStore } from '../backplane/backplane.ts'
import type { HistoryStore } from '../history/store.ts'
import { FlatRenderer, type Rendered } from '../protocol/fastchat-flat.ts'
import { typingFrame } from '../protocol/fastchat.ts'
import { isoNow } from '../lib/clock.ts'
import type { OutText } from '../lib/text-parts.ts'
import { unawaited, type Awaitable } from '../lib/awaitable.ts'
import type { Chats } from './chats.ts'
import type { Presence } from './presence.ts'
import type { ChatPeer, ChatSession } from './session.ts'

/** A current partner outlives its connection this long, so a reconnecting tab keeps its chat. */
export const PARTNER_TTL_MS = 60 * 60_000
/**
 * The owner of every current-partner key: ('partner', CURRENT, user). Keyed by the user as the
 * id, not by one id every user shares, whose slots the in-memory key map would chain together
 * (src/lib/ttl-map.ts); the partner in one chat is keyed ('partner', user, chat_id).
 */
const CURRENT = 'current'

export class FlatDialect {
  private readonly renderer: FlatRenderer

  constructor(
    presence: Presence,
    chats: Chats,
    /** ('partner', user, chat_id) → the partner in that chat; ('partner', 'current', user) without a history store. */
    private readonly keys: KeyStore,
    /** Where the current partner is kept when there is one: it survives restarts there (SQLite, Redis). */
    private readonly history: HistoryStore | undefined
  ) {
    this.renderer = new FlatRenderer({
      nameOf: (id) => presence.displayName(id),
      chatIdOf: (a, b) => chats.idOf(a, b),
      now: isoNow
    })
  }

  /** The peer a flat connection's session writes to. */
  peer(session: ChatSession, conn: ChatPeer): ChatPeer {
    return new FlatPeer(conn, session, this)
  }

  /**
   * Whom a flat MSG or TYPING goes to: the frame's `to`, else the partner in its `chat_id`, else
   * (no chat_id) the partner this connection's screen shows, else (a tab back after a reconnect
   * or a restart, told nothing yet) the user's current partner; undefined when there is none.
   */
  recipient(session: ChatSession & { user: { user_id: string } }, msg: Record<string, unknown>): Awaitable<string | undefined> {
    const userId = session.user.user_id
    if (typeof msg.to === 'string') return msg.to
    if (msg.chat_id === undefined) return session.partner ?? this.current(userId)
    // A chat this user was not told of goes nowhere: never to whoever is current instead.
    if (typeof msg.chat_id !== 'string' || msg.chat_id === CURRENT) return undefined
    return this.keys.get('partner', userId, msg.chat_id)
  }

  current(userId: string): Awaitable<string | undefined> {
    return this.history ? this.history.partnerOf(userId) : this.keys.get('partner', CURRENT, userId)
  }

  /** A CHAT_OPENED reached one of the user's flat connections: its target is now the partner. */
  opened(userId: string, chatId: string, partner: string): void {
    // Not waited for: the frame is on its way, and each store keeps the order of what follows.
    try {
      if (this.history) this.history.setPartner(userId, partner)
      else unawaited(this.keys.put('partner', CURRENT, userId, partner, PARTNER_TTL_MS))
    } catch {
      // The store is closing (shutdown): the user opens the chat again after reconnecting.
    }
    unawaited(this.keys.put('partner', userId, chatId, partner, PARTNER_TTL_MS))
  }

  render(frame: string): ReturnType<FlatRenderer['render']> {
    return this.renderer.render(frame)
  }
}


/** A connection that speaks flat: frames rendered on the way out, and the partner kept current. */
class FlatPeer implements ChatPeer {
  /**
   * Users this connection was last told are typing. The app clears an indicator only on an
   * `is_typing: false`, never when that user's MSG arrives, while clients of the envelope (our
   * page among them) clear it themselves on the MSG and send no `false`: so a MSG from one of
   * these users is followed by that `false`, or the app shows them typing until they leave.
   */
  private readonly typing = new Set<string>()

  constructor(
    private readonly conn: ChatPeer,
    private readonly session: ChatSession,
    private readonly dialect: FlatDialect
  ) {}

  get id(): string {
    return this.conn.id
  }

  send(frame: OutText, label: string, errorCode?: string): boolean {
    const r = this.flat(frame)
    if (r?.flat === undefined || !this.conn.send(r.flat, label, errorCode)) return false
    this.sent(r)
    return true
  }

  sendDroppable(frame: OutText, label: string): boolean {
    const r = this.flat(frame)
    if (r?.flat === undefined || !this.conn.sendDroppable(r.flat, label)) return false
    this.sent(r)
    return true
  }

  close(code: number, reason: string): void {
    this.conn.close(code, reason)
  }

  fail(err: unknown): void {
    this.conn.fail(err)
  }

  /** The frame rendered flat (undefined: not for this connection), and the partner kept current. */
  private flat(frame: OutText): Rendered | undefined {
    // Text in pieces decodes once per frame, so the renderer's one remembered entry still matches.
    const r = this.dialect.render(String(frame))
    const me = this.session.user?.user_id
    if (r.type === 'CHAT_OPENED' && me !== undefined) {
      this.session.partner = r.data.target_user_id as string
      this.dialect.opened(me, r.data.chat_id as string, r.data.target_user_id as string)
    } else if (r.type === 'MSG' && r.data.from === me) {
      // The copy for the sender's other tabs: the app would file it under its own id.
      return undefined
    } else if (r.type === 'MSG_ACK' && r.data.status === 'received') {
      // A receipt is a no-op for a flat sender (FASTCHAT-APP-DIALECT.md, section 5): the app
      // shows every status but `delivered` as pending, so a `received` could only undo its tick.
      return undefined
    }
    return r
  }

  /** A frame went out: who is shown typing follows it (see `typing`). */
  private sent(r: Rendered): void {
    if (r.type === 'TYPING') {
      const who = r.data.user_id as string
      if (r.data.is_typing === true) this.typing.add(who)
      else this.typing.delete(who)
    } else if (r.type === 'MSG' && this.typing.delete(r.data.from as string)) {
      const stop = this.dialect.render(typingFrame(r.data.from as string, false)).flat
      if (stop !== undefined) this.conn.send(stop, 'TYPING')
    }
  }
}
