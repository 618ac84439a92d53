// ChatService: FastChat behaviour (SPEC section 3) for validated client messages: identity,
// chats, messages, receipts, typing, ping, and the cleanup when a connection goes. Plain code over
// Presence (who is online, their names), the Backplane (deliveries, which land in each instance's
// LocalHub) and RateLimits; it writes to the sender's own connection only through ChatPeer.
// MSG and MSG_ACK, the hot path, are the relay's (relay.ts).
import { connRef, type Backplane, type UserEntry } from '../backplane/backplane.ts'
import type { VerifiedUser } from '../auth/tokens.ts'
import { ErrorCode } from '../protocol/error-codes.ts'
import {
  appendToData, chatOpenedFrame, errorFrame, helloAckFrame, pongFrame, validationFrame, type ClientHistory, type ClientMessage, type ClientTyping, type Hello, type OpenChat
} from '../protocol/fastchat.ts'
import type { HistoryStore } from '../history/store.ts'
import { isoNow } from '../lib/clock.ts'
import type { Awaitable } from '../lib/awaitable.ts'
import { Chats } from './chats.ts'
import { MessageLedger } from './ledger.ts'
import type { Presence } from './presence.ts'
import type { RateLimits } from './rate-limits.ts'
import { ChatSession, type ChatPeer, type Identified } from './session.ts'
import { MessageRelay } from './relay.ts'
import { TypingRelay } from './typing.ts'
import { ChatHistory } from './history.ts'
import { FlatDialect } from './flat.ts'

export interface TokenCheck {
  /** False when no key is configured: tokens are then not checked (and AUTH_REQUIRED is refused at startup). */
  readonly enabled: boolean
  verify(token: string | undefined): Promise<VerifiedUser | null>
}

export interface ChatServiceOptions {
  /** AUTH_REQUIRED: HELLO needs a verified token. */
  authRequired: boolean
  /** Where chat logs live (SPEC section 9); without one the `history` capability is ignored. */
  history?: HistoryStore
  /** HISTORY_TTL_S: how long a user stays known after last seen (default 7 days). */
  historyTtlS?: number
}

export const SEND_HELLO_FIRST = errorFrame(ErrorCode.UNAUTHORIZED, 'send HELLO first')

/** OPEN_CHAT, MSG, MSG_ACK and TYPING need a HELLO; checked before validation, so a stranger
 * learns nothing about message shapes. */
export function needsHello(type: ClientMessage['type']): boolean {
  return type !== 'HELLO' && type !== 'PING'
}

export class ChatService {
  readonly chats: Chats
  readonly ledger: MessageLedger
  readonly typing: TypingRelay
  /** Section 9, when a store is configured. */
  readonly history: ChatHistory | undefined
  /** The FastChat app's flat dialect (SPEC section 10): its rendering and its users' current partners. */
  readonly flat: FlatDialect
  private readonly relay: MessageRelay

  constructor(
    private readonly backplane: Backplane,
    private readonly presence: Presence,
    private readonly limits: RateLimits,
    private readonly tokens: TokenCheck,
    private readonly opts: ChatServiceOptions
  ) {
    this.chats = new Chats(backplane.chats, (id) => presence.isOnline(id))
    this.ledger = new MessageLedger(backplane.keys)
    this.typing = new TypingRelay(backplane)
    // Best effort: without the partners (Redis away again) there is no one to tell.
    presence.onLost((id) => void this.chats.partners(id).then((partners) => this.typing.lost(id, partners, (u, d) => presence.deliverHere(u, d)), () => undefined))
    this.history = opts.history && new ChatHistory(opts.history, backplane, presence, this.chats, this.ledger, opts.historyTtlS ?? 604_800)
    this.relay = new MessageRelay(backplane, presence, this.chats, this.ledger, limits, this.history)
    this.flat = new FlatDialect(presence, this.chats, backplane.keys, opts.history)
  }

  /** Its own timers stop (history's keep-alive); the connections are the registry's to close. */
  stop(): void {
    this.history?.stop()
  }

  session(peer: ChatPeer, handshakeToken?: string): ChatSession {
    return new ChatSession(peer, connRef(this.backplane.instanceId, peer.id), handshakeToken)
  }

  /** The connection's first HELLO was flat: from now on it is written to in the flat dialect. */
  speakFlat(session: ChatSession): void {
    session.flat = true
    session.peer = this.flat.peer(session, session.peer)
  }

  /** One validated message; a promise only when its handling had to wait. */
  dispatch(session: ChatSession, msg: ClientMessage): Awaitable<void> {
    if (msg.type === 'PING') {
      session.peer.send(pongFrame(isoNow()), 'PONG')
      return
    }
    if (msg.type === 'HELLO') return this.hello(session, msg.data)
    if (!isIdentified(session)) {
      session.peer.send(SEND_HELLO_FIRST, 'ERROR', ErrorCode.UNAUTHORIZED)
      return
    }
    switch (msg.type) {
      case 'OPEN_CHAT': return this.openChat(session, msg.data)
      case 'MSG': return this.relay.send(session, msg.data)
      case 'MSG_ACK': return this.relay.confirm(session, msg.data)
      case 'TYPING': return this.setTyping(session, msg.data)
      case 'HISTORY': return this.readHistory(session, msg.data)
    }
  }

  /**
   * The connection closed: typing indicators stop, presence shrinks, idle chats are forgotten. A
   * connection that never said HELLO has none of these: it returns at once, with no promise for
   * its Conn to wait on (most sockets of a reconnect storm close before their HELLO).
   */
  disconnect(session: ChatSession): Awaitable<void> {
    session.close()
    if (!isIdentified(session)) return
    return this.leave(session)
  }

  private async leave(session: Identified): Promise<void> {
    await this.typing.stop(session)
    if (!(await this.presence.remove(session))) return
    await this.chats.forget(session.user.user_id)
    if (session.history) await this.history?.left(session)
  }

  private async hello(session: ChatSession, data: Hello['data']): Promise<void> {
    if (session.user) return session.fail(ErrorCode.VALIDATION, 'already identified')
    const token = await this.verifyToken(session, data.token)
    if (token === 'invalid') return session.fail(ErrorCode.UNAUTHORIZED, 'invalid or expired token')
    if (this.opts.authRequired && !token) return session.fail(ErrorCode.UNAUTHORIZED, 'a valid token is required')
    if (token && token.sub !== data.user_id) return session.fail(ErrorCode.UNAUTHORIZED, 'user_id does not match the token')
    const history = this.history && data.capabilities?.includes('history') ? this.history : undefined
    let claim: string | undefined
    if (history) {
      const entitled = await history.entitle(data.user_id, token !== null, data.claim)
      if (!entitled.ok) return session.fail(ErrorCode.UNAUTHORIZED, 'history of this user_id needs its token or its claim')
      claim = entitled.claim
    }

    const user: UserEntry = { user_id: data.user_id, display_name: data.display_name }
    session.user = user
    session.delta = data.capabilities?.includes('presence_delta') ?? false
    if (history) {
      session.history = true
      // From the moment this connection can be delivered to, stored MSGs wait behind its backlog.
      session.backlogHold = []
    }
    if (token?.expiresAt !== undefined) session.expireAt(token.expiresAt)
    await this.presence.add(session as Identified)
    session.peer.send(helloAckFrame(user.user_id, claim), 'HELLO_ACK')
    this.presence.sendFull(session)
    if (history) await history.greet(session as Identified)
    if (session.flat) await this.restorePartner(session as Identified)
  }

  /**
   * A flat tab that comes back (same user_id) gets its chat back with a fresh CHAT_OPENED, as
   * the app's own server restores it: the app sends its next MSG without opening it again.
   */
  private async restorePartner(session: Identified): Promise<void> {
    const partner = await this.flat.current(session.user.user_id)
    if (partner !== undefined && this.presence.isOnline(partner)) await this.openChat(session, { target_user_id: partner })
  }

  /**
   * The verified identity for this HELLO: the handshake's token when it carried one, else
   * `data.token`. 'invalid' when a token was presented and failed; null when none was.
   * With no key configured tokens are not checked at all (a stray `token` cookie must not
   * lock users out of an open service).
   */
  private async verifyToken(session: ChatSession, helloToken: string | undefined): Promise<VerifiedUser | null | 'invalid'> {
    const token = session.handshakeToken ?? helloToken
    if (!token || !this.tokens.enabled) return null
    return (await this.tokens.verify(token)) ?? 'invalid'
  }

  private async openChat(session: Identified, data: OpenChat['data']): Promise<void> {
    const me = session.user.user_id
    const target = data.target_user_id
    if (target === me) {
      session.peer.send(validationFrame('OPEN_CHAT', [{ path: '/data/target_user_id', message: 'cannot open a chat with yourself' }]), 'ERROR', ErrorCode.VALIDATION)
      return
    }
    // A history connection may open a chat with a known user who is offline (section 9).
    const history = session.history ? this.history : undefined
    const targetName = history ? await history.targetName(target) : await this.presence.resolve(target)
    if (targetName === undefined) {
      return session.fail(ErrorCode.USER_NOT_FOUND, history ? 'user is not known' : 'user is not online', { target_user_id: target })
    }
    const chat = await this.chats.open(me, target)
    // Each side sees the other party as the target, on every one of its connections; history
    // connections also learn the log's newest seq.
    const lastSeq = this.history && (await this.history.lastSeq(chat.chat_id))
    const extra = lastSeq === undefined ? undefined : { fields: `"last_seq":${lastSeq}` }
    const frameFor = (other: UserEntry) => chatOpenedFrame({
      chat_id: chat.chat_id, participants: chat.participants, target_user_id: other.user_id, target_display_name: other.display_name
    })
    const toOpener = frameFor({ user_id: target, display_name: targetName })
    session.peer.send(session.history && extra ? appendToData(toOpener, extra.fields) : toOpener, 'CHAT_OPENED')
    if (!chat.created) return
    await this.backplane.deliver(me, { frame: toOpener, label: 'CHAT_OPENED', droppable: false, except: session.ref, history: extra })
    const myName = this.presence.displayName(me) ?? session.user.display_name
    await this.backplane.deliver(target, { frame: frameFor({ user_id: me, display_name: myName }), label: 'CHAT_OPENED', droppable: false, history: extra })
  }

  /** HISTORY counts against the MSG limit: a page is a read as costly as a message. */
  private async readHistory(session: Identified, data: ClientHistory['data']): Promise<void> {
    const wait = await this.limits.consume('msg', session.user.user_id)
    if (wait) return session.fail(ErrorCode.RATE_LIMITED, 'too many messages', { chat_id: data.chat_id, retry_after_ms: wait })
    if (!this.history) return session.fail(ErrorCode.CHAT_NOT_OPENED, 'no chat history to show', { chat_id: data.chat_id })
    await this.history.page(session, data)
  }

  private async setTyping(session: Identified, data: ClientTyping['data']): Promise<void> {
    const me = session.user.user_id
    if (data.to === me) {
      session.peer.send(validationFrame('TYPING', [{ path: '/data/to', message: 'cannot type to yourself' }]), 'ERROR', ErrorCode.VALIDATION)
      return
    }
    // The app says `is_typing: true` on every keystroke: a flat connection relays changes only,
    // and its `false` is never limited (an indicator left on would stick).
    if (session.flat && data.to !== undefined && data.is_typing === session.typingTo.has(data.to)) return
    const wait = session.flat && !data.is_typing ? 0 : await this.limits.consume('typing', me)
    if (wait) return session.fail(ErrorCode.RATE_LIMITED, 'too many typing updates', { retry_after_ms: wait })
    let to: string[]
    if (data.to !== undefined) {
      if (!(await this.chats.isOpen(me, data.to))) return session.fail(ErrorCode.CHAT_NOT_OPENED, 'open a chat with this user first', { to: data.to })
      to = [data.to]
    } else {
      to = await this.chats.partners(me)
    }
    await this.typing.relay(session, to, data.is_typing)
  }
}

function isIdentified(session: ChatSession): session is Identified {
  return session.user !== undefined
}
