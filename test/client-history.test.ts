// The client SDK's history mode (SPEC section 9) in Node on `ws`, against the real server with the
// memory store: the claim it is issued and sends back, stored → delivered → received with the
// content as stored and watermark receipts, CHATS, history() paging and its errors, the catch-up
// after a reconnect, and chat_reset when a log is gone or started again.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { startApp, type TestApp } from './helpers/app.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'
import { chatClient, nextEvent, record, sleep, type ClientOptions } from './helpers/chat-client.ts'
import { FastChatClient, FastChatError, type ChatSummary, type WebSocketConstructor } from '../src/client/index.ts'

const CLAIM = /^[A-Za-z0-9_-]{22,}$/
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const QUICK = { backoff: { baseMs: 50, capMs: 400 } }

interface User {
  client: FastChatClient
  user_id: string
  display_name: string
  claim: string | undefined
  /** The CHATS it got after HELLO. */
  chats: ChatSummary[]
}

/** A history client that said HELLO and got HELLO_ACK, PRESENCE and CHATS. */
async function joinHistory(t: Test, url: string, display_name: string, opts: ClientOptions & { user_id?: string } = {}): Promise<User> {
  const { user_id = randomUUID(), ...rest } = opts
  const client = chatClient(t, url, { history: true, ...QUICK, ...rest })
  const chats = nextEvent(client, 'chats')
  const ack = await client.hello({ user_id, display_name })
  return { client, user_id, display_name, claim: ack.claim ?? (typeof rest.claim === 'string' ? rest.claim : undefined), chats: await chats }
}

/** Wait until `client` sees `userId` go offline. */
function sawLeave(client: FastChatClient, userId: string) {
  return nextEvent(client, 'presence', (p) => !p.users.has(userId))
}

t.test('claim: issued on the first history HELLO, refused without it, accepted with it, sent again on reconnect', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const proxy = await TcpProxy.start(s.port)
  t.teardown(() => proxy.close())
  const user_id = randomUUID()
  const first = chatClient(t, `ws://127.0.0.1:${proxy.port}/ws`, { history: true, ...QUICK, pingIntervalMs: 100, pongTimeoutMs: 200 })
  const claims = record(first, 'claim')
  const hellos = record(first, 'HELLO_ACK')
  const ack = await first.hello({ user_id, display_name: 'Alice' })
  t.match(ack, { user_id, status: 'connected', claim: CLAIM }, 'HELLO_ACK carries the claim')
  t.same(claims, [{ user_id, claim: ack.claim }], 'the claim event, once')
  t.equal(first.claim, ack.claim, 'and the getter')

  const thief = chatClient(t, s.ws('/ws'), { history: true })
  const refused = await thief.hello({ user_id, display_name: 'Mallory' }).catch((e: unknown) => e)
  t.ok(refused instanceof FastChatError)
  t.match(refused, { code: 'UNAUTHORIZED', message: /claim/ }, 'the same user_id without the claim is refused')
  t.equal(thief.state, 'open', 'and the connection stays usable')
  const wrong = chatClient(t, s.ws('/ws'), { history: true, claim: 'x'.repeat(24) })
  await t.rejects(wrong.hello({ user_id, display_name: 'Mallory' }), { code: 'UNAUTHORIZED' }, 'a wrong claim too')

  const second = chatClient(t, s.ws('/ws'), { history: true, claim: () => ack.claim })
  const secondClaims = record(second, 'claim')
  t.same(await second.hello({ user_id, display_name: 'Alice' }), { user_id, status: 'connected' }, 'with the claim (a function): accepted, no new claim')
  t.same(secondClaims, [])

  // A dead path: the first client reconnects and says HELLO again with the claim it was issued.
  proxy.stall()
  await nextEvent(first, 'state', (st) => st.state === 'reconnecting')
  await nextEvent(first, 'state', (st) => st.state === 'open')
  t.same(hellos.map((h) => h.claim), [ack.claim, undefined], 'accepted again, no new claim')
  t.equal(first.claim, ack.claim)
})

t.test('claim: two tabs after a store lost its claims; the tab refused retries with the claim the other stored', async (t) => {
  let s: TestApp = await startApp()
  const port = s.port
  t.teardown(() => s.close())
  const user_id = randomUUID()
  // Both tabs read and write one shared place, as the page does with localStorage; tab two
  // reads it once too early after the restart (its HELLO crossed tab one's new claim).
  let stored: string | undefined
  let early = false
  // Tab two reaches the restarted server only once tab one is back: until then its connects go
  // to a port nobody listens on (refused at once, so it keeps retrying), whatever the timing.
  let held = false
  const refusedUrl = s.ws('/ws').replace(/:\d+\//, ':1/')
  class HeldWebSocket extends WebSocket {
    constructor(url: string) {
      super(held ? refusedUrl : url)
    }
  }
  const tab = (random: number, claim: () => string | undefined, ws: WebSocketConstructor = WebSocket) => {
    const c = new FastChatClient({ url: s.ws('/ws'), WebSocket: ws, history: true, backoff: { baseMs: 400, capMs: 400 }, random: () => random, claim })
    t.teardown(() => c.close())
    c.on('claim', ({ claim }) => (stored = claim))
    return c
  }
  const one = tab(0, () => stored)
  const two = tab(0.5, () => (early ? ((early = false), first) : stored), HeldWebSocket)
  await one.hello({ user_id, display_name: 'Alice' })
  await two.hello({ user_id, display_name: 'Alice' })
  const first = stored
  t.match(first, CLAIM)
  const errors = record(two, 'ERROR')
  const states = record(two, 'state')
  const back = [one, two].map((c) => nextEvent(c, 'state', (st) => st.state === 'open', 15_000))
  held = true
  await s.close()
  early = true
  s = await startApp({}, { port })
  await back[0]
  held = false
  await Promise.all(back)
  t.match(stored, CLAIM)
  t.not(stored, first, 'tab one, back first, was issued a new claim')
  t.same([one.state, two.state], ['open', 'open'], 'both are back')
  t.same(errors.map((e) => e.code), ['UNAUTHORIZED'], 'tab two was refused once, with the stale claim')
  t.same(states.map((st) => st.state), ['reconnecting', 'open'])
})

t.test('offline delivery: stored with the content as stored, delivered on the next HELLO, received as a watermark; CHATS', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const url = s.ws('/ws')
  const alice = await joinHistory(t, url, 'Alice')
  const bob = await joinHistory(t, url, 'Bob')
  const left = sawLeave(alice.client, bob.user_id)
  bob.client.close()
  await left

  const opened = await alice.client.openChat(bob.user_id)
  const chat = opened.chat_id
  t.same(opened, { chat_id: chat, participants: [alice.user_id, bob.user_id].sort(), target_user_id: bob.user_id, target_display_name: 'Bob', last_seq: 0 },
    'a known offline user: CHAT_OPENED with last_seq')
  const statuses = record(alice.client, 'status')
  t.same(await alice.client.send(bob.user_id, 'hi <b>Bob</b>, you there?', { message_id: 'm-1' }),
    { message_id: 'm-1', status: 'stored', chat_id: chat, seq: 1, content: 'hi Bob, you there?' }, 'stored, with the content as stored')
  t.same(await alice.client.send(bob.user_id, 'second', { message_id: 'm-2' }), { message_id: 'm-2', status: 'stored', chat_id: chat, seq: 2, content: 'second' })
  t.same(alice.client.chatLog(chat), { chat_id: chat, target_user_id: bob.user_id, seq: 2 }, 'the client followed the log (no epoch named yet)')

  // Bob comes back with his claim, confirming nothing by himself.
  const bob2 = chatClient(t, url, { history: true, claim: bob.claim, autoReceipt: false })
  const chats = nextEvent(bob2, 'chats')
  const got = record(bob2, 'message')
  const delivered = nextEvent(alice.client, 'status', (st) => st.message_id === 'm-2' && st.status === 'delivered')
  await bob2.hello({ user_id: bob.user_id, display_name: 'Bob' })
  const list = await chats
  const epoch = list[0]?.epoch
  t.same(list, [{ chat_id: chat, target_user_id: alice.user_id, target_display_name: 'Alice', epoch, last_seq: 2, unread: 2 }], 'CHATS: the chat, 2 unread')
  t.type(epoch, 'string')
  await delivered
  t.same(got.map(({ timestamp, ...m }) => (t.match(timestamp, ISO), m)), [
    { from: alice.user_id, to: bob.user_id, content: 'hi Bob, you there?', message_id: 'm-1', chat_id: chat, seq: 1 },
    { from: alice.user_id, to: bob.user_id, content: 'second', message_id: 'm-2', chat_id: chat, seq: 2 }
  ], 'the stored messages, in order, with chat_id and seq')

  // One confirmation of the newest: every earlier message is received too (a watermark).
  t.equal(bob2.confirm('m-2', chat), true)
  await nextEvent(alice.client, 'status', (st) => st.message_id === 'm-2' && st.status === 'received')
  t.same(statuses, [
    { message_id: 'm-1', to: bob.user_id, status: 'pending' },
    { message_id: 'm-1', to: bob.user_id, status: 'stored', chat_id: chat, seq: 1, content: 'hi Bob, you there?' },
    { message_id: 'm-2', to: bob.user_id, status: 'pending' },
    { message_id: 'm-2', to: bob.user_id, status: 'stored', chat_id: chat, seq: 2, content: 'second' },
    { message_id: 'm-1', to: bob.user_id, status: 'delivered', chat_id: chat, seq: 1 },
    { message_id: 'm-2', to: bob.user_id, status: 'delivered', chat_id: chat, seq: 2 },
    { message_id: 'm-1', to: bob.user_id, status: 'received', chat_id: chat, seq: 1 },
    { message_id: 'm-2', to: bob.user_id, status: 'received', chat_id: chat, seq: 2 }
  ], "Alice's marks: stored, delivered, received; the watermark moves m-1 too, oldest first")

  // Alice reloads (a new client with her claim) and sends while Bob is away again: the acks
  // for a message the new client did not send are still reported, by the chat they name.
  const bobLeft = sawLeave(alice.client, bob.user_id)
  bob2.close()
  await bobLeft
  alice.client.close()
  const alice2 = await joinHistory(t, url, 'Alice', { user_id: alice.user_id, claim: alice.claim })
  const sent = await alice2.client.send(bob.user_id, 'after the reload', { message_id: 'm-3' })
  t.same(sent, { message_id: 'm-3', status: 'stored', chat_id: chat, seq: 3, content: 'after the reload' })
  alice2.client.close()
  const alice3 = await joinHistory(t, url, 'Alice', { user_id: alice.user_id, claim: alice.claim })
  const later = record(alice3.client, 'status')
  const bob3 = await joinHistory(t, url, 'Bob', { user_id: bob.user_id, claim: bob.claim })
  await nextEvent(alice3.client, 'status', (st) => st.status === 'received')
  t.same(later, [
    { message_id: 'm-3', to: bob.user_id, status: 'delivered', chat_id: chat, seq: 3 },
    { message_id: 'm-3', to: bob.user_id, status: 'received', chat_id: chat, seq: 3 }
  ], 'a message sent before the reload: delivered, then received (autoReceipt names the chat)')
  bob3.client.close()
  const bob4 = await joinHistory(t, url, 'Bob', { user_id: bob.user_id, claim: bob.claim })
  t.same(bob4.chats.map((c) => [c.chat_id, c.last_seq, c.unread]), [[chat, 3, 0]], 'CHATS on a later visit: nothing unread')
  t.same((await bob4.client.history(chat)).messages.map((m) => [m.message_id, m.status]), [['m-1', 'received'], ['m-2', 'received'], ['m-3', 'received']])
})

t.test('history(): newest first page, paging back and forth, errors matched to their request', async (t) => {
  const s = await startApp({ CHAT_MSG_PER_MIN: 1000 })
  t.teardown(s.close)
  const url = s.ws('/ws')
  const alice = await joinHistory(t, url, 'Alice')
  const bob = await joinHistory(t, url, 'Bob')
  const carol = await joinHistory(t, url, 'Carol')
  const chat = (await alice.client.openChat(bob.user_id)).chat_id
  const allReceived = nextEvent(alice.client, 'status', (st) => st.message_id === 'ab-5' && st.status === 'received')
  for (let i = 1; i <= 5; i++) await alice.client.send(bob.user_id, `n${i}`, { message_id: `ab-${i}` })
  const other = (await alice.client.openChat(carol.user_id)).chat_id
  await alice.client.send(carol.user_id, 'to Carol', { message_id: 'ac-1' })
  await allReceived

  const seqs = (p: { messages: { seq: number }[] }) => p.messages.map((m) => m.seq)
  const newest = await alice.client.history(chat, { limit: 2 })
  t.same({ ...newest, messages: seqs(newest) }, { chat_id: chat, epoch: newest.epoch, first_seq: 1, last_seq: 5, has_more: true, messages: [4, 5] })
  t.match(newest.messages[0], { from: alice.user_id, to: bob.user_id, content: 'n4', message_id: 'ab-4', timestamp: ISO, seq: 4, status: 'received' })
  t.equal(alice.client.chatLog(chat)?.epoch, newest.epoch, 'the answer names the epoch')
  // Several at once, for two chats: each answer goes to its own request.
  const [older, oldest, forward, carols] = await Promise.all([
    alice.client.history(chat, { before_seq: 4, limit: 2 }),
    alice.client.history(chat, { before_seq: 2 }),
    alice.client.history(chat, { after_seq: 3 }),
    alice.client.history(other)
  ])
  t.same([seqs(older), older.has_more], [[2, 3], true])
  t.same([seqs(oldest), oldest.has_more], [[1], false])
  t.same([seqs(forward), forward.has_more], [[4, 5], false])
  t.same([carols.chat_id, carols.messages.map((m) => m.content)], [other, ['to Carol']])

  const errors = record(alice.client, 'ERROR')
  const [unknown, after] = await Promise.allSettled([alice.client.history('chat_nope'), alice.client.history(chat, { limit: 1 })])
  t.match(unknown, { status: 'rejected', reason: { code: 'CHAT_NOT_OPENED', details: { chat_id: 'chat_nope' } } }, 'an unknown chat')
  t.match(after, { status: 'fulfilled', value: { chat_id: chat, messages: [{ seq: 5 }] } }, 'the request after it is answered')
  t.same(errors.map((e) => e.code), ['CHAT_NOT_OPENED'], 'one ERROR on the wire')
  await t.rejects(carol.client.history(chat), { code: 'CHAT_NOT_OPENED' }, 'not a participant')
  await t.rejects(alice.client.history(chat, { before_seq: 3, after_seq: 1 }), { code: 'VALIDATION', message: /not both/ }, 'refused locally')
  await t.rejects(alice.client.history(chat, { limit: 101 }), { code: 'VALIDATION', message: /limit/ })
  t.same(errors.length, 1, 'local refusals cost nothing on the wire')
  const legacy = chatClient(t, url)
  await t.rejects(legacy.history(chat), { code: 'VALIDATION', message: /history is off/ }, 'a client without history')
})

t.test('history(): RATE_LIMITED shares the MSG limit and is matched to the request', async (t) => {
  const s = await startApp({ CHAT_MSG_PER_MIN: 3 })
  t.teardown(s.close)
  const url = s.ws('/ws')
  const alice = await joinHistory(t, url, 'Alice')
  const bob = await joinHistory(t, url, 'Bob')
  const chat = (await alice.client.openChat(bob.user_id)).chat_id
  await alice.client.send(bob.user_id, 'one')
  const results = await Promise.allSettled([1, 2, 3].map(() => alice.client.history(chat)))
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected'])
  t.match(results[2], { reason: { code: 'RATE_LIMITED', details: { retry_after_ms: Number } } })
  t.equal(alice.client.typing(true, bob.user_id), true, 'typing is not blocked by a HISTORY refusal')
})

t.test('catch-up: after a reconnect, what other tabs sent and got meanwhile arrives as message events, once', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const proxy = await TcpProxy.start(s.port)
  t.teardown(() => proxy.close())
  const url = s.ws('/ws')
  // Alice has two tabs: A behind a proxy that can go silent, B direct.
  const tabA = await joinHistory(t, `ws://127.0.0.1:${proxy.port}/ws`, 'Alice', { pingIntervalMs: 100, pongTimeoutMs: 300 })
  const tabB = await joinHistory(t, url, 'Alice', { user_id: tabA.user_id, claim: tabA.claim })
  const bob = await joinHistory(t, url, 'Bob')
  const chat = (await bob.client.openChat(tabA.user_id)).chat_id
  const seenByA = record(tabA.client, 'message')
  const seenByB = record(tabB.client, 'message')
  await bob.client.send(tabA.user_id, 'before', { message_id: 'b-1' })
  while (seenByA.length === 0 || seenByB.length === 0) await sleep(10)
  t.same(tabA.client.chatLog(chat), { chat_id: chat, target_user_id: bob.user_id, seq: 1 })

  proxy.stall()
  const reconnected = nextEvent(tabA.client, 'state', (st) => st.state === 'open', 5000)
  const caughtUp = nextEvent(tabA.client, 'caught_up', () => true, 5000)
  const bobSees = nextEvent(bob.client, 'status', (st) => st.message_id === 'b-2' && st.status === 'received')
  await bob.client.send(tabA.user_id, 'while A was away', { message_id: 'b-2' })
  await bobSees // tab B confirmed it (autoReceipt)
  await tabB.client.send(bob.user_id, 'from tab B', { message_id: 'a-1' })
  await nextEvent(tabB.client, 'status', (st) => st.message_id === 'a-1' && st.status === 'received')
  await reconnected
  const done = await caughtUp
  t.same(done, { chat_id: chat, target_user_id: bob.user_id, after_seq: 1, last_seq: 3, count: 2, missed: false })
  await sleep(200)
  t.same(seenByA.map(({ timestamp, ...m }) => (t.match(timestamp, ISO), m)), [
    { from: bob.user_id, to: tabA.user_id, content: 'before', message_id: 'b-1', chat_id: chat, seq: 1 },
    { from: bob.user_id, to: tabA.user_id, content: 'while A was away', message_id: 'b-2', chat_id: chat, seq: 2, status: 'received' },
    { from: tabA.user_id, to: bob.user_id, content: 'from tab B', message_id: 'a-1', chat_id: chat, seq: 3, status: 'received' }
  ], "tab A: the live message, then the two it missed (Bob's, already received by tab B, and tab B's own), each once")
  t.match(tabA.client.chatLog(chat), { seq: 3, epoch: String })
})

t.test('chat_reset: a log that is gone (restart of the memory store), and a log started again (new epoch)', async (t) => {
  let s: TestApp = await startApp({ HISTORY_TTL_S: 1 })
  const port = s.port
  t.teardown(() => s.close())
  const url = s.ws('/ws')
  const alice = await joinHistory(t, url, 'Alice')
  const bob = await joinHistory(t, url, 'Bob')
  const chat = (await bob.client.openChat(alice.user_id)).chat_id
  await bob.client.send(alice.user_id, 'first log')
  const e1 = (await alice.client.history(chat)).epoch

  // The log expires (TTL 1 s) while Alice's path is dead; Bob's next message starts a new one.
  const proxy = await TcpProxy.start(port)
  t.teardown(() => proxy.close())
  const away = await joinHistory(t, `ws://127.0.0.1:${proxy.port}/ws`, 'Alice', { user_id: alice.user_id, claim: alice.claim, pingIntervalMs: 100, pongTimeoutMs: 1500 })
  t.equal((await away.client.history(chat)).epoch, e1)
  const resets = record(away.client, 'chat_reset')
  const caught = record(away.client, 'caught_up')
  proxy.stall()
  await sleep(1200)
  await bob.client.send(alice.user_id, 'second log', { message_id: 'b-new' })
  const reset = await nextEvent(away.client, 'chat_reset', () => true, 5000)
  const e2 = reset.epoch
  t.type(e2, 'string')
  t.not(e2, e1, 'a new epoch')
  t.same(reset, { chat_id: chat, target_user_id: bob.user_id, epoch: e2, previous: e1 })
  t.same(away.client.chatLog(chat), { chat_id: chat, target_user_id: bob.user_id, epoch: e2, seq: 1 }, 'its seq starts again from the new log')
  await sleep(200)
  t.same(caught, [], 'no catch-up across epochs')
  t.equal(resets.length, 1)

  // The memory store is lost with a restart: CHATS no longer lists the chat. (Alone: a second
  // client of hers with the old claim would be refused once the first got a new one.)
  away.client.close()
  const gone = nextEvent(alice.client, 'chat_reset', () => true, 15_000)
  await s.close()
  s = await startApp({ HISTORY_TTL_S: 1 }, { port })
  // (Alice's own client heard of the second log only by a MSG, which names no epoch.)
  t.same(await gone, { chat_id: chat, target_user_id: bob.user_id, previous: e1 }, 'no epoch: the log is gone')
  t.equal(alice.client.chatLog(chat), undefined, 'forgotten')
})
