// The one contract every HistoryStore must pass (src/history/store.ts, SPEC section 9), so the
// memory, SQLite and Redis stores cannot drift apart: each store's test file calls
// historyContract with a factory that opens a fresh, empty store. Values are asserted exactly,
// because the chat service forwards them to clients as they are (seq, epoch, status, unread).
//
// Timestamps come from one clock that moves 1 ms per message, in the recent past: a chat's
// last_at is its last message's timestamp, so the ordering of chats is decided by the test and
// never by two appends landing in the same millisecond.
import type { Test } from 'tap'
import { chatId } from '../../src/chat/chats.ts'
import type {
  Appended,
  Backlog,
  ChatSummary,
  HistoryLimits,
  HistoryStore,
  MessageStatus,
  NewMessage,
  Page,
  Receipt,
  StoredMessage
} from '../../src/history/store.ts'

/** Opens a store; `open` must hand back an empty one on every call. */
export type OpenHistory = (limits: HistoryLimits) => Promise<HistoryStore>

export interface HistoryContractOptions {
  /** Durable stores: open the data of the last store opened by `open` again, after it was closed. */
  reopen?: OpenHistory
}

const LIMITS: HistoryLimits = { maxPerChat: 1000, ttlS: 3600 }

const A = 'alice'
const B = 'bob'
const C = 'carol'
const D = 'dave'
const AB = chatId(A, B)
const AC = chatId(A, C)
const AD = chatId(A, D)
const CB = chatId(C, B)

let clock = Date.now() - 3_600_000
let ids = 0

/** A new message from → to with a unique id and content, one ms after the previous one. */
function msg(from: string, to: string, messageId = `m${++ids}`): NewMessage {
  clock += 1
  return { chat_id: chatId(from, to), from, to, content: `text of ${messageId}`, message_id: messageId, timestamp: new Date(clock).toISOString() }
}

const stored = (m: NewMessage, seq: number, status: MessageStatus = 'stored'): StoredMessage => ({ ...m, seq, status })
/** What markReceived answers: where the receipt landed. */
const receipt = (m: NewMessage, seq: number): Receipt => ({ chat_id: m.chat_id, from: m.from, to: m.to, message_id: m.message_id, seq })

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Append in order, each after the previous one resolved. */
async function appendAll(store: HistoryStore, msgs: NewMessage[]): Promise<Appended[]> {
  const out: Appended[] = []
  for (const m of msgs) out.push(await store.append(m))
  return out
}

export function historyContract(t: Test, open: OpenHistory, opts: HistoryContractOptions = {}): void {
  /** A fresh store closed when the subtest ends. */
  async function fresh(t: Test, limits: HistoryLimits = LIMITS): Promise<HistoryStore> {
    const store = await open(limits)
    t.teardown(() => store.close())
    return store
  }

  t.test('seq counts 1, 2, 3 … per chat, independently per chat, under one stable epoch', async (t) => {
    const store = await fresh(t)
    const ab = [msg(A, B), msg(B, A), msg(A, B)]
    const ac = { ...msg(A, C), message_id: ab[0]!.message_id } // same id, other chat: not a duplicate
    const first = await store.append(ab[0]!)
    t.equal(first.message.seq, 1)
    t.type(first.epoch, 'string')
    t.ok(first.epoch.length > 0, 'an epoch is a non-empty string')
    const epoch = first.epoch
    t.strictSame(first, { message: stored(ab[0]!, 1), epoch, duplicate: false, previousTo: 0 })
    t.strictSame(await store.append(ab[1]!), { message: stored(ab[1]!, 2), epoch, duplicate: false, previousTo: 0 })
    const other = await store.append(ac)
    t.strictSame(other.message, stored(ac, 1))
    t.equal(other.duplicate, false)
    t.not(other.epoch, epoch, 'each log has its own epoch')
    t.strictSame(await store.append(ab[2]!), { message: stored(ab[2]!, 3), epoch, duplicate: false, previousTo: 1 })
    t.strictSame(await store.page(AB, { limit: 100 }), {
      chat_id: AB,
      epoch,
      first_seq: 1,
      last_seq: 3,
      messages: ab.map((m, i) => stored(m, i + 1)),
      has_more: false
    })
    t.strictSame(await store.page(AC, { limit: 100 }), { chat_id: AC, epoch: other.epoch, first_seq: 1, last_seq: 1, messages: [stored(ac, 1)], has_more: false })
  })

  t.test('200 concurrent appends get seq 1..200 in call order, with no gap or repeat', async (t) => {
    const store = await fresh(t)
    const ab = range(1, 200).map((i) => (i % 2 ? msg(A, B) : msg(B, A)))
    const ac = range(1, 100).map(() => msg(C, A))
    // Interleaved across two chats and issued in one turn: nothing awaited in between.
    const calls: Array<PromiseLike<Appended> | Appended> = []
    for (let i = 0; i < 200; i++) {
      calls.push(store.append(ab[i]!))
      if (i % 2 === 0) calls.push(store.append(ac[i / 2]!))
    }
    const results = await Promise.all(calls)
    const abResults = results.filter((r) => r.message.chat_id === AB)
    const acResults = results.filter((r) => r.message.chat_id === AC)
    t.strictSame(abResults.map((r) => r.message.seq), range(1, 200))
    t.strictSame(acResults.map((r) => r.message.seq), range(1, 100))
    t.strictSame(abResults.map((r) => r.message.message_id), ab.map((m) => m.message_id), 'seq follows call order')
    t.ok(results.every((r) => !r.duplicate), 'none is a duplicate')
    t.equal(new Set(abResults.map((r) => r.epoch)).size, 1, 'one epoch for the whole log')
    const first = await store.page(AB, { after_seq: 0, limit: 100 })
    const second = await store.page(AB, { after_seq: 100, limit: 100 })
    t.strictSame([...first!.messages, ...second!.messages], ab.map((m, i) => stored(m, i + 1)))
    t.equal(second!.has_more, false)
  })

  t.test('dedupe by (from, message_id): the original is answered, nothing is written', async (t) => {
    const store = await fresh(t)
    const original = msg(A, B, 'x1')
    const { epoch } = await store.append(original)
    const next = msg(B, A)
    await store.append(next)
    const retry = { ...msg(A, B, 'x1'), content: 'changed on retry' }
    t.strictSame(await store.append(retry), { message: stored(original, 1), epoch, duplicate: true, previousTo: 0 }, 'original seq, content and timestamp')
    const mirrored = msg(B, A, 'x1')
    t.strictSame(await store.append(mirrored), { message: stored(mirrored, 3), epoch, duplicate: false, previousTo: 2 }, 'the other participant’s x1 is its own message')
    t.strictSame(
      (await store.page(AB, { limit: 100 }))!.messages,
      [stored(original, 1), stored(next, 2), stored(mirrored, 3)],
      'the retry wrote nothing'
    )

    // A duplicate answers the message as it stands now.
    await store.markReceived(AB, B, A, 'x1')
    t.strictSame(await store.append(retry), { message: stored(original, 1, 'received'), epoch, duplicate: true, previousTo: 0 })

    // Two appends of one message in the same turn: the first stores it, the second is its duplicate.
    const twice = msg(A, B, 'x2')
    const [one, two] = await Promise.all([store.append(twice), store.append({ ...twice, content: 'second copy' })])
    t.strictSame(one, { message: stored(twice, 4), epoch, duplicate: false, previousTo: 1 })
    t.strictSame(two, { message: stored(twice, 4), epoch, duplicate: true, previousTo: 0 })
    t.equal((await store.page(AB, { limit: 100 }))!.last_seq, 4)
  })

  t.test('status comes from the recipient’s watermarks, which only move up', async (t) => {
    const store = await fresh(t)
    const toB = range(1, 5).map(() => msg(A, B))
    const toA = msg(B, A)
    await appendAll(store, [...toB, toA])
    const statuses = async () => (await store.page(AB, { limit: 100 }))!.messages.map((m) => m.status)
    t.strictSame(await statuses(), ['stored', 'stored', 'stored', 'stored', 'stored', 'stored'])

    await store.markDelivered(AB, B, 2)
    t.strictSame(await statuses(), ['delivered', 'delivered', 'stored', 'stored', 'stored', 'stored'])
    await store.markDelivered(AB, B, 1)
    t.strictSame(await statuses(), ['delivered', 'delivered', 'stored', 'stored', 'stored', 'stored'], 'delivered never moves down')
    await store.markDelivered(AB, B, 6)
    t.strictSame(await statuses(), ['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'stored'], 'bob’s mark says nothing of messages to alice')

    // A receipt moves both marks of its reader up to the confirmed message.
    const m = range(1, 4).map(() => msg(C, B))
    const cbEpoch = (await appendAll(store, m))[0]!.epoch
    const cb = async () => (await store.page(CB, { limit: 100 }))!.messages.map((x) => x.status)
    t.strictSame(await store.markReceived(CB, B, C, m[2]!.message_id), receipt(m[2]!, 3))
    t.strictSame(await cb(), ['received', 'received', 'received', 'stored'], 'received covers every earlier message')
    t.strictSame(await store.backlog(B), [{ chat_id: CB, target_user_id: C, epoch: cbEpoch, last_seq: 4, messages: [stored(m[3]!, 4)] }], 'markReceived moved the delivered mark too')
    await store.markDelivered(CB, B, 4)
    t.strictSame(await cb(), ['received', 'received', 'received', 'delivered'])
    t.strictSame(await store.markReceived(CB, B, C, m[0]!.message_id), receipt(m[0]!, 1), 'an older receipt answers the message')
    t.strictSame(await cb(), ['received', 'received', 'received', 'delivered'], 'received never moves down')
    await store.markDelivered(CB, B, 2)
    t.strictSame(await cb(), ['received', 'received', 'received', 'delivered'], 'delivered never moves down')
    t.strictSame(await store.backlog(B), [])

    // Receipts that match nothing move nothing.
    t.equal(await store.markReceived(AB, B, A, 'no-such-id'), undefined, 'unknown message_id')
    t.equal(await store.markReceived(AB, A, A, toB[0]!.message_id), undefined, 'the sender cannot confirm its own message')
    t.equal(await store.markReceived(AB, B, B, toA.message_id), undefined, 'a message to alice is not bob’s to confirm')
    t.equal(await store.markReceived(AB, A, B, toB[4]!.message_id), undefined, 'from must be the message’s sender')
    t.equal(await store.markReceived(AC, A, C, toB[0]!.message_id), undefined, 'unknown chat')
    t.strictSame(await statuses(), ['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'stored'])
    t.strictSame(await store.markReceived(AB, A, B, toA.message_id), receipt(toA, 6))
    t.strictSame(await statuses(), ['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'received'])
  })

  t.test('raiseDelivered answers the delivered mark as it was: what a greeting\'s acks are news for', async (t) => {
    const store = await fresh(t)
    const toB = range(1, 5).map(() => msg(A, B))
    await appendAll(store, toB)
    t.equal(await store.raiseDelivered(AB, B, 2), 0, 'nothing delivered before')
    t.equal(await store.raiseDelivered(AB, B, 4), 2, 'the first raise moved it to 2')
    t.equal(await store.raiseDelivered(AB, B, 3), 4, 'a lower raise answers the mark and moves nothing')
    await store.markDelivered(AB, B, 5)
    t.equal(await store.raiseDelivered(AB, B, 5), 5, 'the relay\'s own marks count')
    const toC = range(1, 3).map(() => msg(B, C))
    await appendAll(store, toC)
    await store.markReceived(CB, C, B, toC[1]!.message_id)
    t.equal(await store.raiseDelivered(CB, C, 3), 2, 'so does a receipt, which covers delivery')
    t.equal(await store.raiseDelivered(CB, C, 1), 3)
    t.equal(await store.raiseDelivered(AB, C, 4), 4, 'not a participant: nothing is news')
    t.equal(await store.raiseDelivered(AC, A, 7), 7, 'no such chat: nothing is news')
    t.strictSame((await store.page(AB, { limit: 100 }))!.messages.map((m) => m.status), ['delivered', 'delivered', 'delivered', 'delivered', 'delivered'])
  })

  t.test('markDelivered after previousTo: a live delivery never carries the mark over an earlier message still waiting', async (t) => {
    const store = await fresh(t)
    const [m1, m2, m3] = [msg(A, B), msg(A, B), msg(A, B)]
    const a1 = await store.append(m1)
    t.equal(a1.previousTo, 0, 'the first message to bob')
    const fromB = await store.append(msg(B, A))
    t.equal(fromB.previousTo, 0, 'the first message to alice: previousTo is per recipient')
    const a2 = await store.append(m2)
    t.equal(a2.previousTo, 1, 'the one before, to the same recipient')
    await store.markDelivered(AB, B, 3, a2.previousTo) // m2 handed over live while m1 waits
    t.strictSame((await store.backlog(B))[0]?.messages.map((m) => m.message_id), [m1.message_id, m2.message_id], 'm1 is still owed, and m2 is handed over again with it')
    await store.markDelivered(AB, B, 1, a1.previousTo)
    await store.markDelivered(AB, B, 3, a2.previousTo)
    const a3 = await store.append(m3)
    t.equal(a3.previousTo, 3)
    await store.markDelivered(AB, B, 4, a3.previousTo)
    t.strictSame(await store.backlog(B), [], 'in order, each raise goes through')
    t.equal((await store.append(m2)).duplicate, true, 'a duplicate still answers')
  })

  t.test('page: newest first backwards, oldest first forwards, exact bounds', async (t) => {
    const store = await fresh(t)
    const all = range(1, 250).map((i) => (i % 3 ? msg(A, B) : msg(B, A)))
    const appended = await Promise.all(all.map((m) => store.append(m)))
    const epoch = appended[0]!.epoch
    const expect = (from: number, to: number, hasMore: boolean): Page => ({
      chat_id: AB,
      epoch,
      first_seq: 1,
      last_seq: 250,
      messages: from > to ? [] : range(from, to).map((s) => stored(all[s - 1]!, s)),
      has_more: hasMore
    })
    t.strictSame(await store.page(AB, { limit: 100 }), expect(151, 250, true), 'no cursor: the newest limit')
    t.strictSame(await store.page(AB, { before_seq: 151, limit: 100 }), expect(51, 150, true))
    t.strictSame(await store.page(AB, { before_seq: 51, limit: 100 }), expect(1, 50, false))
    t.strictSame(await store.page(AB, { before_seq: 1, limit: 100 }), expect(1, 0, false))
    t.strictSame(await store.page(AB, { before_seq: 1000, limit: 10 }), expect(241, 250, true))
    t.strictSame(await store.page(AB, { limit: 1 }), expect(250, 250, true))
    t.strictSame(await store.page(AB, { after_seq: 0, limit: 100 }), expect(1, 100, true))
    t.strictSame(await store.page(AB, { after_seq: 100, limit: 100 }), expect(101, 200, true))
    t.strictSame(await store.page(AB, { after_seq: 200, limit: 100 }), expect(201, 250, false))
    t.strictSame(await store.page(AB, { after_seq: 249, limit: 1 }), expect(250, 250, false))
    t.strictSame(await store.page(AB, { after_seq: 250, limit: 100 }), expect(1, 0, false))
    t.equal(await store.page(AC, { limit: 100 }), undefined, 'unknown chat')
  })

  t.test('retention: a log keeps the newest maxPerChat messages', async (t) => {
    const store = await fresh(t, { maxPerChat: 10, ttlS: 3600 })
    const all = range(1, 25).map(() => msg(A, B))
    const appended = await appendAll(store, all)
    t.strictSame(appended.map((r) => r.message.seq), range(1, 25))
    const epoch = appended[0]!.epoch
    const kept = (from: number, to: number) => range(from, to).map((s) => stored(all[s - 1]!, s))
    t.strictSame(await store.page(AB, { limit: 100 }), { chat_id: AB, epoch, first_seq: 16, last_seq: 25, messages: kept(16, 25), has_more: false })
    t.strictSame(await store.page(AB, { after_seq: 3, limit: 100 }), { chat_id: AB, epoch, first_seq: 16, last_seq: 25, messages: kept(16, 25), has_more: false })
    t.strictSame(await store.page(AB, { before_seq: 20, limit: 100 }), { chat_id: AB, epoch, first_seq: 16, last_seq: 25, messages: kept(16, 19), has_more: false })
    t.strictSame(await store.page(AB, { before_seq: 20, limit: 2 }), { chat_id: AB, epoch, first_seq: 16, last_seq: 25, messages: kept(18, 19), has_more: true })
    t.strictSame(await store.backlog(B), [{ chat_id: AB, target_user_id: A, epoch, last_seq: 25, messages: kept(16, 25) }])
    t.strictSame(await store.chatsOf(B, 10), [{ chat_id: AB, target_user_id: A, epoch, last_seq: 25, unread: 10, last_at: Date.parse(all[24]!.timestamp) }], 'unread counts kept messages')
  })

  t.test('retention frees a trimmed id for its sender only, when both senders used it', async (t) => {
    const store = await fresh(t, { maxPerChat: 2, ttlS: 3600 })
    const fromA = msg(A, B, 'both')
    const fromB = msg(B, A, 'both')
    await appendAll(store, [fromA, fromB, msg(A, B)]) // seq 1 (A's "both") trimmed
    const again = await store.append(msg(B, A, 'both'))
    t.strictSame([again.duplicate, again.message.seq, again.message.from], [true, 2, B], "B's kept id is still a duplicate, B's message")
    const freed = await store.append(msg(A, B, 'both'))
    t.strictSame([freed.duplicate, freed.message.seq], [false, 4], "A's trimmed id is free again")
    await store.append(msg(A, B)) // seq 5 (B's "both", seq 2, went with seq 4)
    const kept = await store.append(msg(A, B, 'both'))
    t.strictSame([kept.duplicate, kept.message.seq, kept.message.from], [true, 4, A], "A's new both survives B's trim")
    const mirrored = await appendAll(store, [msg(B, A, 'twice'), msg(A, B, 'twice'), msg(A, B)]) // seq 6, 7, 8: B's "twice" (6) trimmed
    t.strictSame(mirrored.map((r) => r.duplicate), [false, false, false])
    t.strictSame((await store.append(msg(A, B, 'twice'))).duplicate, true, "A's kept twice is a duplicate")
    t.strictSame((await store.append(msg(B, A, 'twice'))).message.seq, 9, "B's trimmed twice is free again")
  })

  t.test('chatsOf: most recent activity first, unread above the received mark, at most limit', async (t) => {
    const store = await fresh(t)
    const ab1 = msg(A, B)
    const ab2 = msg(B, A)
    const ac1 = msg(A, C)
    const ad1 = msg(D, A)
    const ab3 = msg(B, A)
    const [abE, , acE, adE] = (await appendAll(store, [ab1, ab2, ac1, ad1, ab3])).map((r) => r.epoch)
    const at = (m: NewMessage) => Date.parse(m.timestamp)
    const abForA: ChatSummary = { chat_id: AB, target_user_id: B, epoch: abE!, last_seq: 3, unread: 2, last_at: at(ab3) }
    const adForA: ChatSummary = { chat_id: AD, target_user_id: D, epoch: adE!, last_seq: 1, unread: 1, last_at: at(ad1) }
    const acForA: ChatSummary = { chat_id: AC, target_user_id: C, epoch: acE!, last_seq: 1, unread: 0, last_at: at(ac1) }
    t.strictSame(await store.chatsOf(A, 200), [abForA, adForA, acForA])
    t.strictSame(await store.chatsOf(A, 2), [abForA, adForA])
    t.strictSame(await store.chatsOf(B, 200), [{ chat_id: AB, target_user_id: A, epoch: abE!, last_seq: 3, unread: 1, last_at: at(ab3) }])
    t.strictSame(await store.chatsOf(C, 200), [{ chat_id: AC, target_user_id: A, epoch: acE!, last_seq: 1, unread: 1, last_at: at(ac1) }])
    t.strictSame(await store.chatsOf('nobody', 200), [])

    await store.markDelivered(AD, A, 1)
    t.strictSame(await store.chatsOf(A, 200), [abForA, adForA, acForA], 'delivered is not read')
    await store.markReceived(AB, A, B, ab2.message_id)
    t.strictSame(await store.chatsOf(A, 200), [{ ...abForA, unread: 1 }, adForA, acForA])
    await store.markReceived(AB, A, B, ab3.message_id)
    t.strictSame(await store.chatsOf(A, 200), [{ ...abForA, unread: 0 }, adForA, acForA], 'none unread after the newest is received')

    // New activity moves a chat to the front.
    const ac2 = msg(C, A)
    await store.append(ac2)
    t.strictSame(await store.chatsOf(A, 200), [{ ...acForA, last_seq: 2, unread: 1, last_at: at(ac2) }, { ...abForA, unread: 0 }, adForA])
  })

  t.test('backlog: undelivered messages to the user, per chat, oldest activity first', async (t) => {
    const store = await fresh(t)
    const cb1 = msg(C, B)
    const ab1 = msg(A, B)
    const ab2 = msg(B, A)
    const ab3 = msg(A, B)
    const [cbE, abE] = (await appendAll(store, [cb1, ab1, ab2, ab3])).map((r) => r.epoch)
    const cbForB: Backlog = { chat_id: CB, target_user_id: C, epoch: cbE!, last_seq: 1, messages: [stored(cb1, 1)] }
    const abForB: Backlog = { chat_id: AB, target_user_id: A, epoch: abE!, last_seq: 3, messages: [stored(ab1, 1), stored(ab3, 3)] }
    t.strictSame(await store.backlog(B), [cbForB, abForB])
    t.strictSame(await store.backlog(A), [{ chat_id: AB, target_user_id: B, epoch: abE!, last_seq: 3, messages: [stored(ab2, 2)] }])
    t.strictSame(await store.backlog('nobody'), [])

    await store.markDelivered(AB, B, 1)
    t.strictSame(await store.backlog(B), [cbForB, { ...abForB, messages: [stored(ab3, 3)] }])
    const cb2 = msg(C, B)
    await store.append(cb2)
    t.strictSame(await store.backlog(B), [{ ...abForB, messages: [stored(ab3, 3)] }, { ...cbForB, last_seq: 2, messages: [stored(cb1, 1), stored(cb2, 2)] }], 'activity reorders')
    await store.markDelivered(AB, B, 3)
    await store.markDelivered(CB, B, 2)
    t.strictSame(await store.backlog(B), [], 'empty once delivered')
    t.strictSame(await store.backlog(A), [{ chat_id: AB, target_user_id: B, epoch: abE!, last_seq: 3, messages: [stored(ab2, 2)] }], 'alice’s backlog is her own')
  })

  t.test('users: seen makes known with the latest display name; claims are set once', async (t) => {
    const store = await fresh(t)
    t.equal(await store.known(A), undefined)
    await store.seen(A, 'Alice')
    t.equal(await store.known(A), 'Alice')
    await store.seen(A, 'Alice L.')
    t.equal(await store.known(A), 'Alice L.')
    t.equal(await store.known(B), undefined)

    t.equal(await store.claimHash(A), undefined)
    t.equal(await store.setClaimHash(A, 'hash-1'), true)
    t.equal(await store.setClaimHash(A, 'hash-2'), false)
    t.equal(await store.claimHash(A), 'hash-1')
    t.equal(await store.known(A), 'Alice L.', 'a claim leaves the display name alone')
    t.equal(await store.claimHash(B), undefined)
    // A claim may come before the user is seen, and two in one turn race fairly.
    const [first, second] = await Promise.all([store.setClaimHash(B, 'hash-b1'), store.setClaimHash(B, 'hash-b2')])
    t.strictSame([first, second], [true, false])
    t.equal(await store.claimHash(B), 'hash-b1')
    await store.seen(B, 'Bob')
    t.equal(await store.claimHash(B), 'hash-b1', 'seen leaves the claim alone')
  })

  t.test('partners: a flat user\'s current partner, per user, the latest wins, gone ttlS after it was set', async (t) => {
    const store = await fresh(t, { maxPerChat: 1000, ttlS: 1 })
    t.equal(await store.partnerOf(A), undefined)
    store.setPartner(A, B)
    store.setPartner(C, A)
    t.equal(await store.partnerOf(A), B, 'read at once after it was set')
    store.setPartner(A, D)
    t.equal(await store.partnerOf(A), D, 'the latest wins')
    t.equal(await store.partnerOf(C), A)
    t.equal(await store.partnerOf(B), undefined)
    await sleep(600)
    store.setPartner(C, B) // pushes carol's, not alice's
    await sleep(700)
    t.equal(await store.partnerOf(A), undefined, 'ttlS after it was last set')
    t.equal(await store.partnerOf(C), B)
  })

  t.test('expiry: logs ttlS after their last message, users ttlS after last seen', async (t) => {
    const store = await fresh(t, { maxPerChat: 1000, ttlS: 1 })
    const ab1 = msg(A, B)
    const { epoch } = await store.append(ab1)
    await store.append(msg(A, C))
    await store.seen(A, 'Alice')
    await store.seen(D, 'Dave')
    await store.setClaimHash(D, 'hash-d')

    await sleep(600)
    await store.append(msg(B, A)) // pushes AB's expiry, not AC's
    await store.seen(A, 'Alice') // pushes alice's, not dave's
    await sleep(700)
    t.equal((await store.page(AB, { limit: 100 }))?.last_seq, 2, 'a refreshed log is kept')
    t.equal(await store.page(AC, { limit: 100 }), undefined, 'a log ttlS after its last message is gone')
    t.strictSame((await store.chatsOf(A, 200)).map((c) => c.chat_id), [AB])
    t.strictSame(await store.chatsOf(C, 200), [])
    t.equal(await store.known(A), 'Alice', 'a user seen again is kept')
    t.equal(await store.known(D), undefined, 'a user ttlS after last seen is forgotten')
    t.equal(await store.claimHash(D), 'hash-d', 'but their claim outlives that: a log they are in may still be there')

    await sleep(700)
    t.equal(await store.page(AB, { limit: 100 }), undefined)
    t.strictSame(await store.chatsOf(A, 200), [])
    t.strictSame(await store.chatsOf(B, 200), [])
    t.strictSame(await store.backlog(B), [], 'an expired log has no backlog')
    t.strictSame(await store.backlog(A), [])
    t.equal(await store.known(A), undefined)
    t.equal(await store.markReceived(AB, B, A, ab1.message_id), undefined)

    const again = { ...msg(A, B), message_id: ab1.message_id } // the old id is free again with the log gone
    const restarted = await store.append(again)
    t.strictSame(restarted.message, stored(again, 1), 'a new log starts at seq 1')
    t.equal(restarted.duplicate, false)
    t.not(restarted.epoch, epoch, 'a new log has a new epoch')
    t.strictSame(await store.page(AB, { limit: 100 }), { chat_id: AB, epoch: restarted.epoch, first_seq: 1, last_seq: 1, messages: [stored(again, 1)], has_more: false })
  })

  t.test('claims: gone two ttlS after the user was last seen (or claimed, if never seen), so they cannot pile up; the id is then free', async (t) => {
    const store = await fresh(t, { maxPerChat: 1000, ttlS: 1 })
    await store.setClaimHash(D, 'hash-d') // a HELLO that never came back
    await store.seen(A, 'Alice')
    await store.setClaimHash(A, 'hash-a')
    await sleep(1300)
    t.equal(await store.claimHash(D), 'hash-d', 'kept past one ttlS')
    await store.seen(A, 'Alice') // alice comes back: hers now lasts two ttlS from here
    await sleep(1000)
    t.equal(await store.claimHash(D), undefined, 'two ttlS after it was issued, to a user never seen since, it is gone')
    t.equal(await store.claimHash(A), 'hash-a', 'a user seen again keeps theirs')
    t.equal(await store.setClaimHash(D, 'hash-d2'), true, 'the id may be claimed again')
    t.equal(await store.claimHash(D), 'hash-d2')
  })

  const reopen = opts.reopen
  if (reopen) {
    t.test('reopen: messages, marks, users, claims and partners survive close, and seq continues', async (t) => {
      const first = await open(LIMITS)
      const ab = [msg(A, B), msg(B, A), msg(A, B), msg(A, B)]
      const ac = msg(C, A)
      const { epoch } = (await appendAll(first, ab))[0]!
      const acEpoch = (await first.append(ac)).epoch
      await first.markReceived(AB, B, A, ab[0]!.message_id)
      await first.markDelivered(AB, B, 3)
      await first.seen(A, 'Alice')
      await first.setClaimHash(A, 'hash-a')
      // Not awaited: close() must flush what is pending.
      first.setPartner(A, B)
      const pending = [first.markDelivered(AB, A, 2), first.seen(B, 'Bob'), first.append(msg(C, A))]
      await first.close()
      await Promise.all(pending)

      const store = await reopen(LIMITS)
      t.teardown(() => store.close())
      t.strictSame(await store.page(AB, { limit: 100 }), {
        chat_id: AB,
        epoch,
        first_seq: 1,
        last_seq: 4,
        messages: [stored(ab[0]!, 1, 'received'), stored(ab[1]!, 2, 'delivered'), stored(ab[2]!, 3, 'delivered'), stored(ab[3]!, 4)],
        has_more: false
      })
      t.equal((await store.page(AC, { limit: 100 }))?.last_seq, 2, 'the append issued before close was kept')
      t.equal(await store.known(A), 'Alice')
      t.equal(await store.known(B), 'Bob')
      t.equal(await store.claimHash(A), 'hash-a')
      t.equal(await store.partnerOf(A), B, 'a partner set just before close is kept')
      t.equal(await store.setClaimHash(A, 'other'), false)
      t.strictSame(await store.backlog(B), [{ chat_id: AB, target_user_id: A, epoch, last_seq: 4, messages: [stored(ab[3]!, 4)] }])
      t.strictSame(
        (await store.chatsOf(A, 200)).map((c) => [c.chat_id, c.epoch, c.last_seq, c.unread]),
        [[AC, acEpoch, 2, 2], [AB, epoch, 4, 1]]
      )
      t.strictSame(await store.append(ab[0]!), { message: stored(ab[0]!, 1, 'received'), epoch, duplicate: true, previousTo: 0 }, 'dedupe survives')
      const next = msg(B, A)
      t.strictSame(await store.append(next), { message: stored(next, 5), epoch, duplicate: false, previousTo: 2 }, 'seq continues, and the previous message to alice is known again')
    })
  }
}
