// The chat relay, FastChat's hot path: a MSG limited, cleaned, deduplicated, delivered and
// acknowledged, and a recipient's MSG_ACK turned into `received` for its sender.
//
// Over the in-memory backplane every step answers at once, and a promise per step would be
// most of a message's cost: each step goes through `then` below, which calls on synchronously
// for a plain value and waits only for a real promise (Redis). The trick stays in this file.
//
// A history connection's MSG (SPEC 9) is written to its chat's log before anyone hears of it.
// A durable write is a commit, so the second trick here: the pair and the connection wait only
// until the append is issued (that fixes its seq), and the rest follows when the write lands,
// in seq order. One commit then carries every message that arrived meanwhile, not one per pair.
import { randomUUID } from 'node:crypto'
import type { Backplane, HistoryExtra } from '../backplane/backplane.ts'
import { ErrorCode } from '../protocol/error-codes.ts'
import {
  CONTENT_LENGTH, cleanText, errorFrame, logPlaceFields, msgAckFrame, msgFrame, storedAckFrame, type ClientMsg, type ClientMsgAck
} from '../protocol/fastchat.ts'
import type { Appended, HistoryStore, StoredMessage } from '../history/store.ts'
import { isoNow } from '../lib/clock.ts'
import { KeyedSerial } from '../lib/keyed-serial.ts'
import { isThenable, unawaited, type Awaitable } from '../lib/awaitable.ts'
import type { Chats } from './chats.ts'
import type { MessageLedger } from './ledger.ts'
import type { Presence } from './presence.ts'
import type { RateLimits } from './rate-limits.ts'
import type { Identified } from './session.ts'
import type { ChatHistory } from './history.ts'
import { NOT_KNOWN, NOT_ONLINE, NOT_OPENED, NOT_STORED, NOT_TAKEN, type Failure } from './failures.ts'

/** `next(value)`: at once for a plain value, once it settles for a promise. */
function then<A, B>(value: Awaitable<A>, next: (value: A) => Awaitable<B>): Awaitable<B> {
  return isThenable(value) ? Promise.resolve(value).then(next) : next(value)
}


/** An ERROR about one MSG: it names the message_id, so the client knows which one to retry. */
function failMsg(session: Identified, messageId: string, code: ErrorCode, message: string, details: Record<string, unknown> = {}): void {
  session.peer.send(errorFrame(code, message, { message_id: messageId, ...details }), 'ERROR', code)
}

export class MessageRelay {
  /** MSG handling per (sender, recipient): messages arrive in the order they were sent. */
  private readonly pairs = new KeyedSerial()

  constructor(
    private readonly backplane: Backplane,
    private readonly presence: Presence,
    private readonly chats: Chats,
    private readonly ledger: MessageLedger,
    private readonly limits: RateLimits,
    /** Section 9, when a history store is configured: MSGs from history connections go to the log. */
    private readonly history: ChatHistory | undefined
  ) {}

  /** One MSG, in order per (sender, recipient) even across the sender's tabs whenever a step has to wait. */
  send(session: Identified, data: ClientMsg['data']): Awaitable<void> {
    const me = session.user.user_id
    if (data.to === me) {
      failMsg(session, data.message_id ?? randomUUID(), ErrorCode.VALIDATION, 'invalid MSG: cannot message yourself', {
        errors: [{ path: '/data/to', message: 'cannot message yourself' }]
      })
      return
    }
    return this.pairs.submit(() => `${me}\n${data.to}`, () => this.relay(session, data))
  }

  /** A recipient's MSG_ACK: the sender learns the message was received. */
  confirm(session: Identified, data: ClientMsgAck['data']): Awaitable<void> {
    if (session.history && this.history) return this.history.confirm(session, data)
    return then(this.ledger.takeSender(session.user.user_id, data.message_id), (sender) => {
      if (sender === undefined) return
      return then(this.backplane.deliver(sender, { frame: msgAckFrame(data.message_id, 'received'), label: 'MSG_ACK', droppable: false }), () => undefined)
    })
  }

  /** Limit, clean, dedupe, deliver, acknowledge (or fail with the reason). */
  private relay(session: Identified, data: ClientMsg['data']): Awaitable<void> {
    const me = session.user.user_id
    const messageId = data.message_id ?? randomUUID()
    // Counted before the costlier work below, so a flood of bad messages is bounded too.
    return then(this.limits.consume('msg', me), (wait) => {
      if (wait) return failMsg(session, messageId, ErrorCode.RATE_LIMITED, 'too many messages', { retry_after_ms: wait })
      const content = cleanText(data.content, CONTENT_LENGTH)
      if (!content.ok) {
        return failMsg(session, messageId, ErrorCode.VALIDATION, `invalid MSG: /data/content: ${content.message}`, { errors: [{ path: '/data/content', message: content.message }] })
      }
      // The chat's log dedupes by message_id and says the message's state on a retry.
      if (session.history && this.history) return this.store(session, data.to, content.text, messageId, this.history.store)
      // A message_id seen in the last 10 minutes was delivered already: acknowledge, do not resend.
      return then(this.ledger.claim(me, messageId), (first) => {
        if (!first) return void session.peer.send(msgAckFrame(messageId, 'delivered'), 'MSG_ACK')
        return then(this.deliver(session, data.to, content.text, messageId), (failure) => {
          if (!failure) return
          // Not delivered: a retry with this id must go through.
          return then(this.ledger.release(me, messageId), () => failMsg(session, messageId, failure.code, failure.message))
        })
      })
    })
  }

  private deliver(session: Identified, to: string, content: string, messageId: string): Awaitable<Failure | undefined> {
    const me = session.user.user_id
    return then(this.presence.resolve(to), (name) => {
      if (name === undefined) return NOT_ONLINE
      return then(this.chats.isOpen(me, to), (open) => {
        if (!open) return NOT_OPENED
        const frame = msgFrame({ from: me, to, content, message_id: messageId, timestamp: isoNow() })
        // Whom the recipient's receipt goes to, written before the MSG is handed over: a client
        // that confirms the moment it reads a MSG (the FastChat app does) would otherwise race
        // the write. Over Redis it is queued before the PUBLISH on the same connection, so it is
        // there before any confirmation can be read. Not delivered after all: it expires unused.
        const remembered = this.ledger.rememberSender(to, messageId, me)
        return then(this.backplane.deliver(to, { frame, label: 'MSG', droppable: false }), (taken) => {
          if (taken === 0) {
            unawaited(remembered)
            return NOT_TAKEN
          }
          return then(remembered, () => {
            session.peer.send(msgAckFrame(messageId, 'delivered'), 'MSG_ACK')
            // The sender's other tabs.
            return then(this.backplane.deliver(me, { frame, label: 'MSG', droppable: false, except: session.ref }), () => undefined)
          })
        })
      })
    })
  }

  /**
   * A history connection's MSG: recipient online or known, chat open, then appended to the log.
   * Returns once the append is issued; the delivery and the ack follow when it is durable.
   */
  private store(session: Identified, to: string, content: string, messageId: string, store: HistoryStore): Awaitable<void> {
    const me = session.user.user_id
    const fail = (f: Failure) => failMsg(session, messageId, f.code, f.message)
    return then(this.presence.resolve(to), (online) => then(online ?? store.known(to), (name) => {
      if (name === undefined) return fail(NOT_KNOWN)
      return then(this.chats.isOpen(me, to), (open) => {
        if (!open) return fail(NOT_OPENED)
        const appended = store.append({ chat_id: this.chats.idOf(me, to), from: me, to, content, message_id: messageId, timestamp: isoNow() })
        if (!isThenable(appended)) return this.landed(session, appended, store)
        // Not returned: the pair's next message and the connection's next frame go on meanwhile.
        // (One reaction per message, not a .catch as well: landing is guarded inside it.)
        appended.then((a) => this.landSafely(session, a, store), () => fail(NOT_STORED)) // the store is away: nothing was promised
      })
    }))
  }

  /** landed(), and a failure in it is logged and closes the connection rather than going unnoticed. */
  private landSafely(session: Identified, a: Appended, store: HistoryStore): void {
    try {
      const done = this.landed(session, a, store)
      if (isThenable(done)) done.then(undefined, (err: unknown) => session.peer.fail(err))
    } catch (err) {
      session.peer.fail(err)
    }
  }

  /** The message is in the log: hand it to the recipient's connections, then acknowledge where it stands. */
  private landed(session: Identified, a: Appended, store: HistoryStore): Awaitable<void> {
    // The stored message is its own LogPlace and msgFrame input: no copies per message.
    const m = a.message
    if (a.duplicate) {
      session.peer.send(storedAckFrame(m.message_id, m.status === 'stored' ? 'stored' : 'delivered', m, m.content), 'MSG_ACK')
      return
    }
    const frame = msgFrame(m)
    const history = { fields: logPlaceFields(m), chat_id: m.chat_id, seq: m.seq }
    const remembered = this.ledger.rememberSender(m.to, m.message_id, m.from) // before the MSG goes: see deliver()
    // Offered even if the recipient looked offline a moment ago: they may be saying HELLO now.
    return then(this.backplane.deliver(m.to, { frame, label: 'MSG', droppable: false, history }), (taken) => {
      if (taken === 0) {
        unawaited(remembered)
        return this.ackStored(session, m, 'stored', frame, history)
      }
      // Not waited for: a delivered mark lost in a crash only means the message is handed over again (clients drop repeats).
      unawaited(store.markDelivered(m.chat_id, m.to, m.seq, a.previousTo))
      return isThenable(remembered)
        ? Promise.resolve(remembered).then(() => this.ackStored(session, m, 'delivered', frame, history))
        : this.ackStored(session, m, 'delivered', frame, history)
    })
  }

  /** The sender's ack, with the message's place and content as stored; then the sender's other tabs get the MSG. */
  private ackStored(session: Identified, m: StoredMessage, status: 'stored' | 'delivered', frame: string, history: HistoryExtra): Awaitable<void> {
    session.peer.send(storedAckFrame(m.message_id, status, m, m.content), 'MSG_ACK')
    return then(this.backplane.deliver(m.from, { frame, label: 'MSG', droppable: false, except: session.ref, history }), () => undefined)
  }
}
