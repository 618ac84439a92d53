// ChatHistory: FastChat's section 9 (capability `history`) on top of a HistoryStore: who may
// read a user's history (a token, or the claim issued on their first history HELLO), what a history
// HELLO is handed (CHATS, then each chat's undelivered messages, then what arrived meanwhile),
// HISTORY pages and stored receipts. A history sender's MSG is the relay's (relay.ts), which
// writes it to the log before anyone is told. Connections without the capability never reach this file.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { isThenable, unawaited } from '../lib/awaitable.ts'
import type { Backplane, HistoryExtra } from '../backplane/backplane.ts'
import type { HistoryStore, Receipt, StoredMessage } from '../history/store.ts'
import { ErrorCode } from '../protocol/error-codes.ts'
import {
  ackedPlaceFields, appendToData, chatOpenedFrame, chatsFrame, historyFrame, HISTORY_DEFAULT_LIMIT, logPlaceFields, msgAckFrame, msgFrame,
  validationFrame, type ChatSummary, type ClientHistory, type ClientMsgAck, type LogPlace
} from '../protocol/fastchat.ts'
import { participants, type Chats } from './chats.ts'
import type { MessageLedger } from './ledger.ts'
import type { Presence } from './presence.ts'
import type { Identified } from './session.ts'

/** CHATS lists at most this many (SPEC section 9). */
export const CHATS_LIMIT = 200
/** 144 random bits, base64url: the claim a first history HELLO gets. */
const CLAIM_BYTES = 18
/**
 * Stored instead of a claim's hash for a user who proved themselves with a token: no claim is
 * ever issued for them, so a HELLO without a token cannot take their history over.
 */
const TOKEN_BOUND = 'token'

/** The other user of a pair that includes `me`; undefined when `me` is not one of them. */
function otherThan(me: string, pair: [string, string] | undefined): string | undefined {
  if (!pair) return undefined
  return pair[0] === me ? pair[1] : pair[1] === me ? pair[0] : undefined
}

export type Entitlement = { ok: true; claim?: string } | { ok: false }

/** What is stored of a claim: its SHA-256, hex. */
export const hashClaim = (claim: string): string => createHash('sha256').update(claim).digest('hex')

function sameHash(stored: string, presented: string): boolean {
  const a = Buffer.from(stored)
  const b = Buffer.from(presented)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** A stored message's history fields on deliveries: its place, and the seq a catching-up connection compares. */
const extraOf = (place: LogPlace): HistoryExtra => ({ fields: logPlaceFields(place), chat_id: place.chat_id, seq: place.seq })
/** A `delivered` ack's history fields: the place and the content as stored (SPEC 9), as the live path's storedAckFrame writes them. */
const deliveredExtraOf = (m: StoredMessage): HistoryExtra => ({ fields: ackedPlaceFields(m, m.content), chat_id: m.chat_id, seq: m.seq })

export class ChatHistory {
  /** Refreshes who is online here as seen (keepOnlineSeen). */
  private readonly keeper: NodeJS.Timeout

  constructor(
    readonly store: HistoryStore,
    private readonly backplane: Backplane,
    private readonly presence: Presence,
    private readonly chats: Chats,
    private readonly ledger: MessageLedger,
    ttlS: number
  ) {
    // A quarter of the TTL (between a second and an hour): a user online all along is seen again
    // well before the known period, and the claim that follows it, could lapse.
    this.keeper = setInterval(() => this.keepOnlineSeen(), Math.min(Math.max(ttlS * 250, 1000), 3_600_000))
    this.keeper.unref()
  }

  stop(): void {
    clearInterval(this.keeper)
  }

  /**
   * `seen` is written at a history HELLO and when a user's last connection goes. A user who stays
   * connected longer than the TTL would otherwise stop being known while online, and two TTLs
   * on their claim would expire (store.ts): the next HELLO with their id and no claim would be
   * issued a new one and read their history. So this instance's history users are seen again.
   */
  private keepOnlineSeen(): void {
    for (const sessions of this.presence.local.perUser()) {
      for (const s of sessions) {
        if (s.closed || !s.history || !s.user) continue
        unawaited(this.store.seen(s.user.user_id, s.user.display_name))
        break
      }
    }
  }

  /**
   * May this HELLO read `userId`'s history? With a verified token, yes (and the user is bound
   * to tokens from then on). Without one: the first asker gets a new claim, later ones must
   * present it. Only the claim's hash is stored.
   */
  async entitle(userId: string, byToken: boolean, claim: string | undefined): Promise<Entitlement> {
    const hash = await this.store.claimHash(userId)
    if (byToken) {
      if (hash === undefined) await this.store.setClaimHash(userId, TOKEN_BOUND)
      return { ok: true }
    }
    if (hash === undefined) {
      const issued = randomBytes(CLAIM_BYTES).toString('base64url')
      // Two first HELLOs at once: one stores its hash, the other is refused like a wrong claim.
      return (await this.store.setClaimHash(userId, hashClaim(issued))) ? { ok: true, claim: issued } : { ok: false }
    }
    return { ok: claim !== undefined && hash !== TOKEN_BOUND && sameHash(hash, hashClaim(claim)) }
  }

  /** An OPEN_CHAT target's name: online anywhere, else known to the history. */
  async targetName(target: string): Promise<string | undefined> {
    return (await this.presence.resolve(target)) ?? (await this.store.known(target))
  }

  /** The newest seq of the chat's log, 0 when it has none: CHAT_OPENED's `last_seq`. */
  async lastSeq(chat: string): Promise<number> {
    return (await this.store.page(chat, { before_seq: 1, limit: 1 }))?.last_seq ?? 0
  }

  /**
   * After HELLO_ACK and PRESENCE: CHATS; then, per chat with undelivered messages, CHAT_OPENED
   * and those messages in seq order; then the stored MSGs that arrived live meanwhile (held by
   * the hub since before this connection joined presence), skipping what the backlog had. Each
   * sender learns `delivered`.
   */
  async greet(session: Identified): Promise<void> {
    const me = session.user.user_id
    await this.store.seen(me, session.user.display_name)
    const list = await this.store.chatsOf(me, CHATS_LIMIT)
    const chats: ChatSummary[] = await Promise.all(list.map(async (c) => ({
      chat_id: c.chat_id, target_user_id: c.target_user_id, target_display_name: await this.nameOf(c.target_user_id), epoch: c.epoch, last_seq: c.last_seq, unread: c.unread
    })))
    if (session.closed) return
    session.peer.send(chatsFrame(chats), 'CHATS')

    const handed: StoredMessage[] = []
    const sentUpTo = new Map<string, number>()
    for (const b of await this.store.backlog(me)) {
      if (session.closed) return
      await this.chats.open(me, b.target_user_id)
      session.peer.send(chatOpenedFrame({
        chat_id: b.chat_id, participants: participants(me, b.target_user_id), target_user_id: b.target_user_id,
        target_display_name: await this.nameOf(b.target_user_id), last_seq: b.last_seq
      }), 'CHAT_OPENED')
      for (const m of b.messages) {
        session.peer.send(appendToData(msgFrame(m), logPlaceFields(m)), 'MSG')
        handed.push(m)
        sentUpTo.set(m.chat_id, m.seq)
      }
    }
    const held = session.backlogHold ?? []
    session.backlogHold = undefined
    for (const d of held) {
      const h = d.history!
      const data = d.label === 'MSG' ? (JSON.parse(d.frame).data as StoredMessage) : undefined
      const toMe = data?.to === me
      // Only a message to this user can be a repeat of the backlog's; the rest held (acks of this
      // user's own messages, their copies from its other tabs) carries seqs of the same log but is news.
      if (toMe && h.seq! <= (sentUpTo.get(h.chat_id!) ?? 0)) continue
      session.peer.send(appendToData(d.frame, h.fields), d.label)
      if (toMe) handed.push({ ...data!, chat_id: h.chat_id!, seq: h.seq!, status: 'delivered' })
    }
    await this.delivered(me, handed)
  }

  /**
   * `reader` was handed these messages: its marks move up, and the senders' connections hear
   * `delivered` for those above the mark as it was, the ones no other connection of the reader
   * (a second tab greeting at the same moment, a live delivery) was first to hand over.
   */
  private async delivered(reader: string, messages: StoredMessage[]): Promise<void> {
    const upTo = new Map<string, number>()
    for (const m of messages) {
      upTo.set(m.chat_id, Math.max(upTo.get(m.chat_id) ?? 0, m.seq))
      await this.ledger.rememberSender(reader, m.message_id, m.from)
    }
    const before = new Map<string, number>()
    for (const [chat, seq] of upTo) before.set(chat, await this.store.raiseDelivered(chat, reader, seq))
    for (const m of messages) {
      if (m.seq <= before.get(m.chat_id)!) continue
      await this.backplane.deliver(m.from, { frame: msgAckFrame(m.message_id, 'delivered'), label: 'MSG_ACK', droppable: false, history: deliveredExtraOf(m) })
    }
  }

  /** The user's last connection went: known for HISTORY_TTL_S from now. */
  async left(session: Identified): Promise<void> {
    await this.store.seen(session.user.user_id, session.user.display_name)
  }

  /**
   * A recipient's MSG_ACK: the receipt is stored with the message (found by the chat the
   * client names, else by the sender the ledger remembers) and relayed to the sender once it is
   * durable. Returns once the receipt is issued to the store, which keeps the order receipts and
   * later requests came in: a reader confirms every message it is handed, and holding its next
   * frame until each receipt's commit queued a busy chat's receipts behind one commit each
   * (docs/bench.md, "Receipts").
   */
  async confirm(session: Identified, data: ClientMsgAck['data']): Promise<void> {
    const me = session.user.user_id
    let sender = await this.ledger.takeSender(me, data.message_id)
    if (sender !== undefined && data.chat_id !== undefined && this.chats.idOf(sender, me) !== data.chat_id) {
      // Two senders gave this reader the same message_id, and the ledger (one sender per reader
      // and id) holds the other one: theirs goes back for their own receipt, and the chat named
      // here says whose message this is.
      await this.ledger.rememberSender(me, data.message_id, sender)
      sender = undefined
    }
    const chat = data.chat_id ?? (sender === undefined ? undefined : this.chats.idOf(sender, me))
    const from = sender ?? (chat === undefined ? undefined : otherThan(me, await this.participantsOf(chat)))
    const stored = chat === undefined || from === undefined ? undefined : this.store.markReceived(chat, me, from, data.message_id)
    const relay = (m: Receipt | undefined) => {
      const to = m?.from ?? sender
      if (to === undefined) return
      return this.backplane.deliver(to, { frame: msgAckFrame(data.message_id, 'received'), label: 'MSG_ACK', droppable: false, history: m && extraOf(m) })
    }
    if (!isThenable(stored)) return void (await relay(stored))
    // Not returned: a failure is still logged and ends this connection (1011), as a failing handler's would.
    stored.then(relay).then(undefined, (err: unknown) => session.peer.fail(err))
  }

  /** HISTORY: a page of a chat's log, to a participant with the capability. */
  async page(session: Identified, data: ClientHistory['data']): Promise<void> {
    if (data.before_seq !== undefined && data.after_seq !== undefined) {
      session.peer.send(validationFrame('HISTORY', [{ path: '/data/after_seq', message: 'give before_seq or after_seq, not both' }]), 'ERROR', ErrorCode.VALIDATION)
      return
    }
    const page = session.history
      ? await this.store.page(data.chat_id, { before_seq: data.before_seq, after_seq: data.after_seq, limit: data.limit ?? HISTORY_DEFAULT_LIMIT })
      : undefined
    const me = session.user.user_id
    const among = (m: StoredMessage | undefined) => m !== undefined && (m.from === me || m.to === me)
    if (!page || !(page.messages.length ? among(page.messages[0]) : otherThan(me, await this.participantsOf(data.chat_id)) !== undefined)) {
      return session.fail(ErrorCode.CHAT_NOT_OPENED, 'no chat history to show', { chat_id: data.chat_id })
    }
    session.peer.send(historyFrame({
      chat_id: page.chat_id, epoch: page.epoch, first_seq: page.first_seq, last_seq: page.last_seq,
      messages: page.messages.map((m) => ({ from: m.from, to: m.to, content: m.content, message_id: m.message_id, timestamp: m.timestamp, seq: m.seq, status: m.status })),
      has_more: page.has_more // after messages, as SPEC 9 writes the reply
    }), 'HISTORY')
  }

  /**
   * The two users of a chat, read off its newest message: a log keeps at least one message
   * while it exists, and chat ids are hashes that cannot be read back.
   */
  private async participantsOf(chat: string): Promise<[string, string] | undefined> {
    const newest = (await this.store.page(chat, { limit: 1 }))?.messages[0]
    return newest && [newest.from, newest.to]
  }

  private async nameOf(userId: string): Promise<string> {
    return this.presence.displayName(userId) ?? (await this.store.known(userId)) ?? userId
  }
}
