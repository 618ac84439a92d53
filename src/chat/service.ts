// ChatService: FastChat behaviour (SPEC section 3) for validated client messages: identity,
// chats, messages, receipts, typing, ping, and the cleanup when a connection goes. Plain code over
// Presence (who is online, their names), the Backplane (deliveries, which land in each instance's
// LocalHub) and RateLimits; it writes to the sender's own connection only through ChatPeer.
//
// MSG and MSG_ACK, the hot path, are generators run by runSyncFirst (src/lib/awaitable.ts):
// `yield` where an async function would `await`, so that over the in-memory backplane a message
// is relayed and acknowledged synchronously, without a promise per step; over Redis the same
// code goes async at its first real wait. The rarer messages are plain async functions.
import { randomUUID } from 'node:crypto'
import { connRef, type Backplane, type UserEntry } from '../backplane/backplane.ts'
import type { VerifiedUser } from '../auth/tokens.ts'
import { ErrorCode } from '../protocol/error-codes.ts'
import {
  CONTENT_LENGTH, chatOpenedFrame, cleanText, errorFrame, helloAckFrame, msgAckFrame, msgFrame, pongFrame, validationFrame,
  type ClientMessage, type ClientMsg, type ClientMsgAck, type ClientTyping, type Hello, type OpenChat
} from '../protocol/fastchat.ts'
import { isoNow } from '../lib/clock.ts'
import { KeyedSerial } from '../lib/serial.ts'
import { runSyncFirst, type Awaitable, type SyncFirst } from '../lib/awaitable.ts'
import { Chats } from './chats.ts'
import { MessageLedger } from './ledger.ts'
import type { Presence } from './presence.ts'
import type { RateLimits } from './rate-limits.ts'
import { ChatSession, type ChatPeer } from './session.ts'
import { TypingRelay } from './typing.ts'

export interface TokenCheck {
  /** False when no key is configured: tokens are then not checked (and AUTH_REQUIRED is refused at startup). */
  readonly enabled: boolean
  verify(token: string | undefined): Promise<VerifiedUser | null>
}

export interface ChatServiceOptions {
  /** AUTH_REQUIRED: HELLO needs a verified token. */
  authRequired: boolean
}

export const SEND_HELLO_FIRST = errorFrame(ErrorCode.UNAUTHORIZED, 'send HELLO first')
const ALREADY_IDENTIFIED = errorFrame(ErrorCode.VALIDATION, 'already identified')

/** OPEN_CHAT, MSG, MSG_ACK and TYPING need a HELLO; checked before validation, so a stranger
 * learns nothing about message shapes. */
export function needsHello(type: ClientMessage['type']): boolean {
  return type !== 'HELLO' && type !== 'PING'
}

type Identified = ChatSession & { user: UserEntry }

export class ChatService {
  readonly chats: Chats
  readonly ledger: MessageLedger
  readonly typing: TypingRelay
  /** MSG handling per (sender, recipient): messages arrive in the order they were sent. */
  private readonly pairs = new KeyedSerial()

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
  }

  session(peer: ChatPeer, handshakeToken?: string): ChatSession {
    return new ChatSession(peer, connRef(this.backplane.instanceId, peer.id), handshakeToken)
  }

  /** One validated message; a promise only when its handling had to wait. */
  dispatch(session: ChatSession, msg: ClientMessage): Awaitable<void> {
    if (msg.type === 'PING') {
      session.peer.send(pongFrame(isoNow()))
      return
    }
    if (msg.type === 'HELLO') return this.hello(session, msg.data)
    if (!isIdentified(session)) {
      session.peer.send(SEND_HELLO_FIRST)
      return
    }
    switch (msg.type) {
      case 'OPEN_CHAT': return this.openChat(session, msg.data)
      case 'MSG': return this.sendMessage(session, msg.data)
      case 'MSG_ACK': return runSyncFirst(this.confirm(session, msg.data))
      case 'TYPING': return this.setTyping(session, msg.data)
    }
  }

  /** The connection closed: typing indicators stop, presence shrinks, idle chats are forgotten. */
  async disconnect(session: ChatSession): Promise<void> {
    session.close()
    if (!isIdentified(session)) return
    await this.typing.stop(session)
    if (await this.presence.remove(session)) await this.chats.forget(session.user.user_id)
  }

  private async hello(session: ChatSession, data: Hello['data']): Promise<void> {
    const reply = (frame: string) => void session.peer.send(frame)
    if (session.user) return reply(ALREADY_IDENTIFIED)
    const token = await this.verifyToken(session, data.token)
    if (token === 'invalid') return reply(errorFrame(ErrorCode.UNAUTHORIZED, 'invalid or expired token'))
    if (this.opts.authRequired && !token) return reply(errorFrame(ErrorCode.UNAUTHORIZED, 'a valid token is required'))
    if (token && token.sub !== data.user_id) return reply(errorFrame(ErrorCode.UNAUTHORIZED, 'user_id does not match the token'))

    const user: UserEntry = { user_id: data.user_id, display_name: data.display_name }
    session.user = user
    session.delta = data.capabilities?.includes('presence_delta') ?? false
    if (token?.expiresAt !== undefined) session.expireAt(token.expiresAt)
    await this.presence.add(session as Identified)
    reply(helloAckFrame(user.user_id))
    this.presence.sendFull(session)
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
      session.peer.send(validationFrame('OPEN_CHAT', [{ path: '/data/target_user_id', message: 'cannot open a chat with yourself' }]))
      return
    }
    const targetName = await this.presence.resolve(target)
    if (targetName === undefined) {
      session.peer.send(errorFrame(ErrorCode.USER_NOT_FOUND, 'user is not online', { target_user_id: target }))
      return
    }
    const chat = await this.chats.open(me, target)
    // Each side sees the other party as the target, on every one of its connections.
    const frameFor = (other: UserEntry) => chatOpenedFrame({
      chat_id: chat.chat_id, participants: chat.participants, target_user_id: other.user_id, target_display_name: other.display_name
    })
    const toOpener = frameFor({ user_id: target, display_name: targetName })
    session.peer.send(toOpener)
    if (!chat.created) return
    await this.backplane.deliver(me, { frame: toOpener, droppable: false, except: session.ref })
    const myName = this.presence.displayName(me) ?? session.user.display_name
    await this.backplane.deliver(target, { frame: frameFor({ user_id: me, display_name: myName }), droppable: false })
  }

  private sendMessage(session: Identified, data: ClientMsg['data']): Awaitable<void> {
    const me = session.user.user_id
    if (data.to === me) {
      session.peer.send(errorFrame(ErrorCode.VALIDATION, 'invalid MSG: cannot message yourself', {
        message_id: data.message_id ?? randomUUID(), errors: [{ path: '/data/to', message: 'cannot message yourself' }]
      }))
      return
    }
    // In order per (sender, recipient), even across the sender's tabs, whenever a step has to wait.
    return this.pairs.submit(() => `${me}\n${data.to}`, () => runSyncFirst(this.relay(session, data)))
  }

  /** One MSG: limit, clean, dedupe, deliver, acknowledge (or fail with the reason). */
  private *relay(session: Identified, data: ClientMsg['data']): SyncFirst<void> {
    const me = session.user.user_id
    const messageId = data.message_id ?? randomUUID()
    // Counted before the costlier work below, so a flood of bad messages is bounded too.
    const wait: number = yield this.limits.consume('msg', me)
    if (wait) return failMsg(session, messageId, ErrorCode.RATE_LIMITED, 'too many messages', { retry_after_ms: wait })
    const content = cleanText(data.content, CONTENT_LENGTH)
    if (!content.ok) {
      return failMsg(session, messageId, ErrorCode.VALIDATION, `invalid MSG: /data/content: ${content.message}`, { errors: [{ path: '/data/content', message: content.message }] })
    }
    // A message_id seen in the last 10 minutes was delivered already: acknowledge, do not resend.
    const first: boolean = yield this.ledger.claim(me, messageId)
    if (!first) {
      session.peer.send(msgAckFrame(messageId, 'delivered'))
      return
    }
    const failure: Failure | undefined = yield* this.deliver(session, data.to, content.text, messageId)
    if (failure) {
      yield this.ledger.release(me, messageId) // not delivered: a retry with this id must go through
      failMsg(session, messageId, failure.code, failure.message)
    }
  }

  private *deliver(session: Identified, to: string, content: string, messageId: string): SyncFirst<Failure | undefined> {
    const me = session.user.user_id
    const name: string | undefined = yield this.presence.resolve(to)
    if (name === undefined) return { code: ErrorCode.USER_NOT_FOUND, message: 'user is not online' }
    const open: boolean = yield this.chats.isOpen(me, to)
    if (!open) return { code: ErrorCode.CHAT_NOT_OPENED, message: 'open a chat with this user first' }
    const frame = msgFrame({ from: me, to, content, message_id: messageId, timestamp: isoNow() })
    const taken: number = yield this.backplane.deliver(to, { frame, droppable: false })
    if (taken === 0) return { code: ErrorCode.MESSAGE_FAILED, message: 'the message could not be handed to the recipient' }
    yield this.ledger.rememberSender(to, messageId, me)
    session.peer.send(msgAckFrame(messageId, 'delivered'))
    yield this.backplane.deliver(me, { frame, droppable: false, except: session.ref }) // the sender's other tabs
    return undefined
  }

  /** A recipient's MSG_ACK: the sender learns the message was received. */
  private *confirm(session: Identified, data: ClientMsgAck['data']): SyncFirst<void> {
    const sender: string | undefined = yield this.ledger.takeSender(session.user.user_id, data.message_id)
    if (sender !== undefined) yield this.backplane.deliver(sender, { frame: msgAckFrame(data.message_id, 'received'), droppable: false })
  }

  private async setTyping(session: Identified, data: ClientTyping['data']): Promise<void> {
    const me = session.user.user_id
    if (data.to === me) {
      session.peer.send(validationFrame('TYPING', [{ path: '/data/to', message: 'cannot type to yourself' }]))
      return
    }
    const wait = await this.limits.consume('typing', me)
    if (wait) {
      session.peer.send(errorFrame(ErrorCode.RATE_LIMITED, 'too many typing updates', { retry_after_ms: wait }))
      return
    }
    let to: string[]
    if (data.to !== undefined) {
      if (!(await this.chats.isOpen(me, data.to))) {
        session.peer.send(errorFrame(ErrorCode.CHAT_NOT_OPENED, 'open a chat with this user first', { to: data.to }))
        return
      }
      to = [data.to]
    } else {
      to = await this.chats.partners(me)
    }
    await this.typing.relay(session, to, data.is_typing)
  }
}

interface Failure {
  code: ErrorCode
  message: string
}

/** An ERROR about one MSG: it names the message_id, so the client knows which one to retry. */
function failMsg(session: ChatSession, messageId: string, code: ErrorCode, message: string, details: Record<string, unknown> = {}): void {
  session.peer.send(errorFrame(code, message, { message_id: messageId, ...details }))
}

function isIdentified(session: ChatSession): session is Identified {
  return session.user !== undefined
}
