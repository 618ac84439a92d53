// SPEC section 9 over real sockets, in one process with each store: offline delivery with
// stored/delivered/received acks, the claim that keeps a user's history theirs, CHATS, HISTORY
// paging and retention, dedupe of a retried message_id, the backlog before live messages, and
// legacy connections that see no change. test/history-durability.test.ts kills the process.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { collect, deploy, inProcess, type Deployment, ISO, join, next, presenceWhere, sleep, type Env, type Frame } from './helpers/fastchat.ts'
import { startRedis, startInstances } from './helpers/redis.ts'
import { startApp } from './helpers/app.ts'
import type { SqliteHistory } from '../src/history/sqlite.ts'
import { history, historyHello, joinHistory, openWith, rejoin } from './helpers/history.ts'

const CLAIM = /^[A-Za-z0-9_-]{22,}$/

/** Each store the service can run on: sqlite in a temp DATA_DIR, redis on a private redis-server, both removed after the test. */
const stores: [string, (t: Tap) => Promise<Env>][] = [
  ['memory', async () => ({ HISTORY_STORE: 'memory' })],
  ['sqlite', async (t) => {
    const dir = mkdtempSync(joinPath(tmpdir(), 'sb-history-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    return { HISTORY_STORE: 'sqlite', DATA_DIR: dir }
  }],
  ['redis', async (t) => {
    const redis = await startRedis()
    t.teardown(() => redis.close())
    return { HISTORY_STORE: 'redis', REDIS_URL: redis.url }
  }]
]
type Tap = { teardown(fn: () => unknown): void }

/** Alice and Bob both said a history HELLO once (so each is known), Bob left, Alice has a chat open with him. */
async function bobOffline(t: Tap, env: Env) {
  const dep = await deploy(t, inProcess, env)
  const alice = await joinHistory(dep, 'Alice')
  const bob = await joinHistory(dep, 'Bob')
  await bob.client.close()
  await presenceWhere(alice.client, (users) => !users.some((u) => u.user_id === bob.user_id))
  const opened = await openWith(alice, bob)
  return { dep, alice, bob, opened }
}

const msg = (to: { user_id: string }, content: string, message_id: string): Frame => ({ type: 'MSG', data: { to: to.user_id, content, message_id } })

/** An app of the test's own on one store (startApp: its logs and `app.history` at hand), Alice and Bob online with history, their chat open. */
async function pairOnApp(t: Tap, store: 'memory' | 'sqlite', env: Env = {}) {
  const s = await startApp({ ...(await stores.find(([name]) => name === store)![1](t)), ...env })
  t.teardown(s.close)
  const dep: Deployment = { connect: s.connect, close: async () => {} }
  const alice = await joinHistory(dep, 'Alice')
  const bob = await joinHistory(dep, 'Bob')
  const chatId: string = (await openWith(alice, bob)).data.chat_id
  return { s, alice, bob, chatId }
}

for (const [name, envOf] of stores) {
  t.test(`${name}: a message to a known user who is offline is stored, then handed over on their next history HELLO`, async (t) => {
    const { dep, alice, bob, opened } = await bobOffline(t, await envOf(t))
    t.match(alice.ack.data, { user_id: alice.user_id, status: 'connected', claim: CLAIM }, 'the first history HELLO is given a claim')
    t.strictSame(alice.chats.data, { chats: [] })
    const chatId = opened.data.chat_id
    t.strictSame(opened.data, { chat_id: chatId, participants: [alice.user_id, bob.user_id].sort(), target_user_id: bob.user_id, target_display_name: 'Bob', last_seq: 0 })

    alice.client.send(msg(bob, 'hi <b>Bob</b>, you there?', 'm-1'))
    const stored = await next(alice.client, 'MSG_ACK')
    t.strictSame(stored, { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'stored', chat_id: chatId, seq: 1, content: 'hi Bob, you there?' } })

    const back = await rejoin(dep, bob)
    t.strictSame(back.ack.data, { user_id: bob.user_id, status: 'connected' }, 'no new claim for a known user')
    t.strictSame(back.chats.data, { chats: [{ chat_id: chatId, target_user_id: alice.user_id, target_display_name: 'Alice', epoch: back.chats.data.chats[0].epoch, last_seq: 1, unread: 1 }] })
    const epoch = back.chats.data.chats[0].epoch
    t.match(epoch, /^\S+$/)
    t.strictSame(await back.client.receiveJson(), {
      type: 'CHAT_OPENED',
      data: { chat_id: chatId, participants: [alice.user_id, bob.user_id].sort(), target_user_id: alice.user_id, target_display_name: 'Alice', last_seq: 1 }
    })
    const got = await back.client.receiveJson()
    t.match(got.data.timestamp, ISO)
    t.strictSame(got, { type: 'MSG', data: { from: alice.user_id, to: bob.user_id, content: 'hi Bob, you there?', message_id: 'm-1', timestamp: got.data.timestamp, chat_id: chatId, seq: 1 } })
    t.strictSame(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'delivered', chat_id: chatId, seq: 1, content: 'hi Bob, you there?' } }, 'handed over from the log: the same ack as a live delivery')

    // Bob confirms: Alice hears `received`, the log keeps it, and unread is 0 on his next visit.
    back.client.send({ type: 'MSG_ACK', data: { message_id: 'm-1', chat_id: chatId } })
    t.strictSame(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'received', chat_id: chatId, seq: 1 } })
    const page = await history(alice, { chat_id: chatId })
    t.strictSame(page, {
      type: 'HISTORY',
      data: {
        chat_id: chatId, epoch, first_seq: 1, last_seq: 1, has_more: false,
        messages: [{ from: alice.user_id, to: bob.user_id, content: 'hi Bob, you there?', message_id: 'm-1', timestamp: got.data.timestamp, seq: 1, status: 'received' }]
      }
    })
    t.same(Object.keys(page.data), ['chat_id', 'epoch', 'first_seq', 'last_seq', 'messages', 'has_more'], 'in SPEC 9\'s order')
    await back.client.close()
    const again = await rejoin(dep, bob)
    t.equal(again.chats.data.chats[0].unread, 0)
    await again.client.expectNoMessage(200) // nothing left to hand over
  })

  t.test(`${name}: a receipt and a HISTORY right behind it: the page already says received`, async (t) => {
    const dep = await deploy(t, inProcess, await envOf(t))
    const alice = await joinHistory(dep, 'Alice')
    const bob = await joinHistory(dep, 'Bob')
    const chatId = (await openWith(alice, bob)).data.chat_id
    alice.client.send(msg(bob, 'read me', 'o-1'))
    const got = await next(bob.client, 'MSG')
    t.equal(got.data.seq, 1)
    // The connection moves on once the receipt is issued, not once it is durable: the store must
    // still answer the HISTORY that came after it with the receipt in.
    bob.client.send({ type: 'MSG_ACK', data: { message_id: 'o-1', chat_id: chatId } })
    bob.client.send({ type: 'HISTORY', data: { chat_id: chatId } })
    t.strictSame((await next(bob.client, 'HISTORY')).data.messages.map((m: Frame['data']) => [m.message_id, m.status]), [['o-1', 'received']])
    t.strictSame(await alice.client.waitFor((m: Frame) => m.type === 'MSG_ACK' && m.data.status === 'received', { timeout: 3000 }), { type: 'MSG_ACK', data: { message_id: 'o-1', status: 'received', chat_id: chatId, seq: 1 } })
  })

  t.test(`${name}: nobody reads a user's history without their token or claim`, async (t) => {
    const { dep, alice, bob } = await bobOffline(t, await envOf(t))
    alice.client.send(msg(bob, 'for Bob only', 'secret-1'))
    t.equal((await next(alice.client, 'MSG_ACK')).data.status, 'stored')

    for (const claim of [undefined, 'not-the-claim', `${bob.claim!}x`]) {
      const mallory = await dep.connect('/ws')
      await mallory.receiveJson()
      mallory.send(historyHello(bob.user_id, 'Bob', claim === undefined ? {} : { claim }))
      t.strictSame(await mallory.receiveJson(), {
        type: 'ERROR', data: { code: 'UNAUTHORIZED', message: 'history of this user_id needs its token or its claim', details: {} }
      }, `claim ${claim ?? '(none)'} refused`)
      mallory.send({ type: 'PING', data: {} })
      t.equal((await mallory.receiveJson()).type, 'PONG', 'the connection stays open, unidentified: nothing of Bob\'s reached it')
      mallory.send({ type: 'HISTORY', data: { chat_id: 'x' } })
      t.equal((await mallory.receiveJson()).data.message, 'send HELLO first')
      await mallory.close()
    }
    // The message is still waiting for the real Bob.
    const real = await rejoin(dep, bob)
    t.equal(real.chats.data.chats[0].unread, 1)
    t.equal((await next(real.client, 'MSG')).data.message_id, 'secret-1')
  })

  t.test(`${name}: HISTORY pages back in 100s and catches up forward, gap-free; retention trims and first_seq says so`, async (t) => {
    const env = { ...await envOf(t), CHAT_MSG_PER_MIN: 10_000, WS_FRAMES_PER_SEC: 10_000, WS_FRAME_BURST: 10_000 }
    const { dep, alice, bob, opened } = await bobOffline(t, env)
    const chatId = opened.data.chat_id
    for (let i = 1; i <= 250; i++) alice.client.send(msg(bob, `n${i}`, `p-${i}`))
    const acks = await alice.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id === 'p-250', { timeout: 15_000 })
    t.strictSame(acks.filter((m: Frame) => m.type === 'MSG_ACK').map((m: Frame) => m.data.seq), Array.from({ length: 250 }, (_, i) => i + 1))

    const seqs = (page: Frame) => page.data.messages.map((m: Frame) => m.seq)
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i)
    const p1 = await history(alice, { chat_id: chatId, limit: 100 })
    t.strictSame([seqs(p1), p1.data.has_more, p1.data.first_seq, p1.data.last_seq], [range(151, 250), true, 1, 250])
    t.strictSame(p1.data.messages[0], { from: alice.user_id, to: bob.user_id, content: 'n151', message_id: 'p-151', timestamp: p1.data.messages[0].timestamp, seq: 151, status: 'stored' })
    const p2 = await history(alice, { chat_id: chatId, limit: 100, before_seq: 151 })
    t.strictSame([seqs(p2), p2.data.has_more], [range(51, 150), true])
    const p3 = await history(alice, { chat_id: chatId, limit: 100, before_seq: 51 })
    t.strictSame([seqs(p3), p3.data.has_more], [range(1, 50), false])
    const f1 = await history(alice, { chat_id: chatId, after_seq: 0, limit: 100 })
    t.strictSame([seqs(f1), f1.data.has_more], [range(1, 100), true])
    const f3 = await history(alice, { chat_id: chatId, after_seq: 200, limit: 100 })
    t.strictSame([seqs(f3), f3.data.has_more], [range(201, 250), false])
    t.strictSame(seqs(await history(alice, { chat_id: chatId })), range(201, 250), 'default limit 50, newest')

    // Errors: both directions, a chat that is not yours, an unknown one.
    t.match(await history(alice, { chat_id: chatId, before_seq: 5, after_seq: 1 }), { type: 'ERROR', data: { code: 'VALIDATION' } })
    const carol = await joinHistory(dep, 'Carol')
    t.strictSame(await history(carol, { chat_id: chatId }), { type: 'ERROR', data: { code: 'CHAT_NOT_OPENED', message: 'no chat history to show', details: { chat_id: chatId } } })
    t.match(await history(carol, { chat_id: 'chat_nope' }), { type: 'ERROR', data: { code: 'CHAT_NOT_OPENED' } })
    const legacy = await join(dep, 'Legacy', { user_id: alice.user_id })
    legacy.client.send({ type: 'HISTORY', data: { chat_id: chatId } })
    t.match(await next(legacy.client, 'ERROR'), { data: { code: 'CHAT_NOT_OPENED' } }, 'a connection without the capability reads nothing, even as a participant')
  })

  t.test(`${name}: retention keeps HISTORY_MAX_PER_CHAT messages`, async (t) => {
    const { alice, bob, opened } = await bobOffline(t, { ...await envOf(t), HISTORY_MAX_PER_CHAT: 40, CHAT_MSG_PER_MIN: 1000 })
    for (let i = 1; i <= 55; i++) alice.client.send(msg(bob, `r${i}`, `r-${i}`))
    await alice.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id === 'r-55', { timeout: 10_000 })
    const page = await history(alice, { chat_id: opened.data.chat_id, limit: 100 })
    t.strictSame([page.data.first_seq, page.data.last_seq, page.data.messages.length, page.data.messages[0].content, page.data.has_more], [16, 55, 40, 'r16', false])
  })

  t.test(`${name}: a retried message_id is stored once and acked again with its seq`, async (t) => {
    const { dep, alice, bob, opened } = await bobOffline(t, await envOf(t))
    alice.client.send(msg(bob, 'once', 'dup-1'))
    const first = await next(alice.client, 'MSG_ACK')
    alice.client.send(msg(bob, 'once (retry)', 'dup-1'))
    t.strictSame(await next(alice.client, 'MSG_ACK'), first, 'same seq, the content as first stored')
    const back = await rejoin(dep, bob)
    t.equal(back.chats.data.chats[0].last_seq, 1)
    await next(back.client, 'CHAT_OPENED')
    t.equal((await next(back.client, 'MSG')).data.seq, 1)
    await back.client.expectNoMessage(200)
    t.equal(opened.data.last_seq, 0)
  })

  t.test(`${name}: the backlog comes before newer live messages of the chat, each exactly once`, async (t) => {
    const { dep, alice, bob } = await bobOffline(t, { ...await envOf(t), CHAT_MSG_PER_MIN: 1000 })
    for (let i = 1; i <= 30; i++) alice.client.send(msg(bob, `b${i}`, `b-${i}`))
    await alice.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id === 'b-30', { timeout: 10_000 })
    // Bob comes back while Alice keeps sending: the live ones race his HELLO.
    const back = rejoin(dep, bob)
    for (let i = 31; i <= 60; i++) alice.client.send(msg(bob, `b${i}`, `b-${i}`))
    const bobNow = await back
    const got = await bobNow.client.receiveUntil((m: Frame) => m.type === 'MSG' && m.data.seq === 60, { timeout: 10_000 })
    t.strictSame(got.filter((m: Frame) => m.type === 'MSG').map((m: Frame) => m.data.seq), Array.from({ length: 60 }, (_, i) => i + 1))
    t.equal(got.filter((m: Frame) => m.type === 'CHAT_OPENED').length, 1)
    await bobNow.client.expectNoMessage(200)
  })

  t.test(`${name}: legacy connections see section 3 unchanged`, async (t) => {
    const dep = await deploy(t, inProcess, await envOf(t))
    const alice = await joinHistory(dep, 'Alice')
    const bob = await join(dep, 'Bob')
    t.strictSame((await openWith(alice, bob)).data.last_seq, 0, 'the history opener hears last_seq')
    const legacyOpened = await next(bob.client, 'CHAT_OPENED')
    t.notOk('last_seq' in legacyOpened.data, 'the legacy side does not')
    alice.client.send(msg(bob, 'hello legacy', 'l-1'))
    const m = await next(bob.client, 'MSG')
    t.strictSame(Object.keys(m.data), ['from', 'to', 'content', 'message_id', 'timestamp'], 'no chat_id or seq to a legacy connection')
    t.strictSame((await next(alice.client, 'MSG_ACK')).data, { message_id: 'l-1', status: 'delivered', chat_id: legacyOpened.data.chat_id, seq: 1, content: 'hello legacy' })
    // A legacy sender to an offline user: USER_NOT_FOUND as ever, nothing stored.
    const carol = await joinHistory(dep, 'Carol')
    await carol.client.close()
    await presenceWhere(bob.client, (users) => !users.some((u) => u.user_id === carol.user_id), 5000)
    bob.client.send({ type: 'MSG', data: { to: carol.user_id, content: 'x' } })
    t.match(await next(bob.client, 'ERROR'), { data: { code: 'USER_NOT_FOUND' } })
    bob.client.send({ type: 'OPEN_CHAT', data: { target_user_id: carol.user_id } })
    t.strictSame((await next(bob.client, 'ERROR')).data, { code: 'USER_NOT_FOUND', message: 'user is not online', details: { target_user_id: carol.user_id } })
    // A history user who is neither online nor known.
    alice.client.send({ type: 'OPEN_CHAT', data: { target_user_id: '0b0e8d52-7d7c-4d8e-9a53-8d0f1b8d8f11' } })
    t.strictSame((await next(alice.client, 'ERROR')).data, { code: 'USER_NOT_FOUND', message: 'user is not known', details: { target_user_id: '0b0e8d52-7d7c-4d8e-9a53-8d0f1b8d8f11' } })
  })
}

t.test('redis, two instances: Alice on one, Bob on the other, share one log', async (t) => {
  const { apps, close } = await startInstances(2, { HISTORY_STORE: 'redis' })
  t.teardown(close)
  const [a, b] = apps.map((app) => ({ connect: app.connect, close: async () => {} })) as [Deployment, Deployment]
  const alice = await joinHistory(a, 'Alice')
  const bob = await joinHistory(b, 'Bob')
  const opened = await openWith(alice, bob)
  await next(bob.client, 'CHAT_OPENED')
  alice.client.send(msg(bob, 'live across instances', 'x-1'))
  t.strictSame((await next(bob.client, 'MSG')).data.seq, 1)
  t.strictSame((await next(alice.client, 'MSG_ACK')).data, { message_id: 'x-1', status: 'delivered', chat_id: opened.data.chat_id, seq: 1, content: 'live across instances' })
  await bob.client.close()
  await presenceWhere(alice.client, (users) => !users.some((u) => u.user_id === bob.user_id), 5000)
  alice.client.send(msg(bob, 'stored across instances', 'x-2'))
  t.strictSame((await next(alice.client, 'MSG_ACK')).data.status, 'stored')
  const back = await rejoin(b, bob)
  t.strictSame(back.chats.data.chats.map((c: Frame) => [c.last_seq, c.unread]), [[2, 2]])
  await next(back.client, 'CHAT_OPENED')
  t.strictSame((await next(back.client, 'MSG')).data.content, 'stored across instances')
  t.strictSame((await next(alice.client, 'MSG_ACK')).data, { message_id: 'x-2', status: 'delivered', chat_id: opened.data.chat_id, seq: 2, content: 'stored across instances' }, 'the delivered ack crosses instances')
  back.client.send({ type: 'MSG_ACK', data: { message_id: 'x-2', chat_id: opened.data.chat_id } })
  t.strictSame((await next(alice.client, 'MSG_ACK')).data.status, 'received')
  const page = await history(alice, { chat_id: opened.data.chat_id })
  t.strictSame(page.data.messages.map((m: Frame) => [m.seq, m.status]), [[1, 'received'], [2, 'received']], 'a receipt for message 2 says message 1 arrived too')
})

t.test('redis: while Redis is away a history MSG fails with its message_id (nothing was promised), and the retry goes through once it is back', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const dep = await deploy(t, inProcess, { HISTORY_STORE: 'redis', REDIS_URL: redis.url })
  const alice = await joinHistory(dep, 'Alice')
  const bob = await joinHistory(dep, 'Bob')
  await openWith(alice, bob)
  await redis.stop()
  alice.client.send(msg(bob, 'during the outage', 'o-1'))
  t.strictSame(await next(alice.client, 'ERROR'), {
    type: 'ERROR', data: { code: 'MESSAGE_FAILED', message: 'the message could not be stored; retry it with the same message_id', details: { message_id: 'o-1' } }
  })
  alice.client.send({ type: 'PING', data: {} })
  t.equal((await next(alice.client, 'PONG')).type, 'PONG', 'the connection survives')
  await redis.start()
  // Redis came back empty: the log starts again, at seq 1 under a new epoch.
  let ack: Frame | undefined
  for (let i = 0; i < 50 && !ack; i++) {
    await sleep(100)
    alice.client.send(msg(bob, 'during the outage', 'o-1'))
    const answer = await alice.client.waitFor((m: Frame) => m.type === 'MSG_ACK' || m.type === 'ERROR', { timeout: 3000 })
    if (answer.type === 'MSG_ACK') ack = answer
  }
  t.match(ack?.data, { message_id: 'o-1', status: 'delivered', seq: 1 })
  t.equal((await next(bob.client, 'MSG')).data.message_id, 'o-1')
})

t.test('HISTORY counts against CHAT_MSG_PER_MIN; the refusal names the chat it answers', async (t) => {
  const dep = await deploy(t, inProcess, { HISTORY_STORE: 'memory', CHAT_MSG_PER_MIN: 2 })
  const alice = await joinHistory(dep, 'Alice')
  const bob = await joinHistory(dep, 'Bob')
  const chatId = (await openWith(alice, bob)).data.chat_id
  alice.client.send(msg(bob, 'one', 'q-1'))
  await next(alice.client, 'MSG_ACK')
  t.equal((await history(alice, { chat_id: chatId })).type, 'HISTORY')
  const refused = await history(alice, { chat_id: chatId })
  t.match(refused, { type: 'ERROR', data: { code: 'RATE_LIMITED', message: 'too many messages', details: { chat_id: chatId, retry_after_ms: Number } } })
  t.strictSame(Object.keys(refused.data.details), ['chat_id', 'retry_after_ms'])
})

t.test('sqlite: a burst of MSGs from one connection is committed together, acked in seq order (relay.ts releases the pair at the append)', async (t) => {
  const { s, alice, bob } = await pairOnApp(t, 'sqlite', { CHAT_MSG_PER_MIN: 1000 })
  const store = s.app.history as SqliteHistory
  const before = store.flushes
  for (let i = 1; i <= 100; i++) alice.client.send(msg(bob, `burst ${i}`, `burst-${i}`))
  const acks = (await alice.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id === 'burst-100', { timeout: 10_000 }))
    .filter((m: Frame) => m.type === 'MSG_ACK')
  t.strictSame(acks.map((m: Frame) => [m.data.seq, m.data.status]), Array.from({ length: 100 }, (_, i) => [i + 1, 'delivered']))
  const got = await bob.client.receiveUntil((m: Frame) => m.type === 'MSG' && m.data.seq === 100, { timeout: 10_000 })
  t.strictSame(got.filter((m: Frame) => m.type === 'MSG').map((m: Frame) => m.data.seq), Array.from({ length: 100 }, (_, i) => i + 1))
  const commits = store.flushes - before
  t.ok(commits < 25, `100 messages of one pair in ${commits} commits, not one commit each`)
})

t.test('sqlite: a reader confirming every message of a burst: the receipts share commits and all come back as received', async (t) => {
  const { s, alice, bob, chatId } = await pairOnApp(t, 'sqlite', { CHAT_MSG_PER_MIN: 1000 })
  const store = s.app.history as SqliteHistory
  for (let i = 1; i <= 100; i++) alice.client.send(msg(bob, `burst ${i}`, `r-${i}`))
  const got = (await bob.client.receiveUntil((m: Frame) => m.type === 'MSG' && m.data.seq === 100, { timeout: 10_000 })).filter((m: Frame) => m.type === 'MSG')
  t.equal(got.length, 100, 'bob got the burst')
  // Bob confirms all of it at once, as a client reading a burst does; the chat's own id with each.
  const before = store.flushes
  for (const m of got) bob.client.send({ type: 'MSG_ACK', data: { message_id: m.data.message_id, chat_id: chatId } })
  const received = (await alice.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.status === 'received' && m.data.message_id === 'r-100', { timeout: 10_000 }))
    .filter((m: Frame) => m.type === 'MSG_ACK' && m.data.status === 'received')
  t.strictSame(received.map((m: Frame) => m.data), Array.from({ length: 100 }, (_, i) => ({ message_id: `r-${i + 1}`, status: 'received', chat_id: chatId, seq: i + 1 })), 'every receipt, in order, with its place')
  const commits = store.flushes - before
  t.ok(commits < 25, `100 receipts in ${commits} commits, not one commit (and one wait) each`)
  const page = await s.app.history!.page(chatId, { limit: 100 })
  t.strictSame(page?.messages.map((m) => m.status), Array.from({ length: 100 }, () => 'received'), 'and every receipt is stored')
})

t.test('a receipt the store fails to keep: logged, the reader closes with 1011, the sender goes on', async (t) => {
  const { s, alice, bob, chatId } = await pairOnApp(t, 'memory')
  alice.client.send(msg(bob, 'read me', 'f-1'))
  await next(bob.client, 'MSG')
  const store = s.app.history!
  store.markReceived = () => Promise.reject(new Error('the store went away'))
  bob.client.send({ type: 'MSG_ACK', data: { message_id: 'f-1', chat_id: chatId } })
  t.equal((await bob.client.expectClose(1011)).code, 1011)
  t.ok(s.logs.some((l) => l.includes('handler failed; closing with 1011') && l.includes('the store went away')), 'the failure is logged with its error')
  alice.client.send({ type: 'PING', data: {} })
  t.equal((await next(alice.client, 'PONG')).type, 'PONG', "the sender's connection is untouched")
})

t.test('HISTORY_STORE=off: the capability is ignored', async (t) => {
  const dep = await deploy(t, inProcess, { HISTORY_STORE: 'off' })
  const c = await dep.connect('/ws')
  await c.receiveJson()
  c.send(historyHello('0b0e8d52-7d7c-4d8e-9a53-8d0f1b8d8f11', 'Off'))
  t.strictSame((await c.receiveJson()).data, { user_id: '0b0e8d52-7d7c-4d8e-9a53-8d0f1b8d8f11', status: 'connected' })
  t.equal((await c.receiveJson()).type, 'PRESENCE')
  await c.expectNoMessage(200)
})

for (const [name, envOf] of stores) {
  t.test(`${name}: a user connected for longer than their claim would last keeps it: nobody else is issued one for their id`, async (t) => {
    // HISTORY_TTL_S=1: a claim lasts two seconds after its user was last seen, and the instance
    // sees its online history users again every second.
    const dep = await deploy(t, inProcess, { ...(await envOf(t)), HISTORY_TTL_S: 1 })
    const alice = await joinHistory(dep, 'Alice')
    t.match(alice.ack.data, { claim: CLAIM })
    await sleep(3500)
    const mallory = await dep.connect('/ws')
    await mallory.receiveJson()
    mallory.send(historyHello(alice.user_id, 'Alice'))
    t.strictSame(await mallory.receiveJson(), {
      type: 'ERROR', data: { code: 'UNAUTHORIZED', message: 'history of this user_id needs its token or its claim', details: {} }
    }, 'no new claim for an id whose user is still here')
    await mallory.close()
    const second = await joinHistory(dep, 'Alice', { user_id: alice.user_id, claim: alice.claim })
    t.strictSame(second.ack.data, { user_id: alice.user_id, status: 'connected' }, 'her own claim still works')
  })
}

for (const [name, envOf] of stores) {
  t.test(`${name}: a reader's two tabs greeting at once: each sender hears delivered once per message, never after received`, async (t) => {
    const { dep, alice, bob } = await bobOffline(t, await envOf(t))
    for (let i = 1; i <= 3; i++) {
      alice.client.send(msg(bob, `while you were away ${i}`, `away-${i}`))
      t.equal((await next(alice.client, 'MSG_ACK')).data.status, 'stored')
    }
    // A browser restored with two tabs: both HELLOs in one breath.
    const tabs = await Promise.all([dep.connect('/ws'), dep.connect('/ws')])
    for (const c of tabs) await c.receiveJson() // WELCOME
    for (const c of tabs) c.send(historyHello(bob.user_id, 'Bob', { claim: bob.claim }))
    const got = await Promise.all(tabs.map(async (c) => (await collect(c, 800)).filter((m: Frame) => m.type === 'MSG')))
    const ids = got.map((msgs) => msgs.map((m: Frame) => m.data.message_id).join())
    t.ok(ids.includes('away-1,away-2,away-3'), 'the backlog was handed over')
    // A tab that got it confirms the last, as the SDK does.
    const i = ids.indexOf('away-1,away-2,away-3')
    tabs[i]!.send({ type: 'MSG_ACK', data: { message_id: 'away-3', chat_id: got[i]![2].data.chat_id } })
    const acks = (await collect(alice.client, 800)).filter((m: Frame) => m.type === 'MSG_ACK').map((m: Frame) => `${m.data.message_id} ${m.data.status}`)
    t.strictSame(acks, ['away-1 delivered', 'away-2 delivered', 'away-3 delivered', 'away-3 received'], 'one delivered each, then the receipt')
  })
}

t.test('two senders who gave a reader the same message_id: each receipt (with its chat_id) goes back to its own sender', async (t) => {
  const dep = await deploy(t, inProcess, (await stores[1]![1](t)))
  const reader = await joinHistory(dep, 'Rita')
  const alice = await joinHistory(dep, 'Alice')
  const bob = await joinHistory(dep, 'Bob')
  const toAlice = (await openWith(reader, alice)).data.chat_id
  const toBob = (await openWith(reader, bob)).data.chat_id
  await next(alice.client, 'CHAT_OPENED')
  await next(bob.client, 'CHAT_OPENED')
  // Counter ids, as some clients make them: both senders' first message is "m-1".
  alice.client.send(msg(reader, 'from alice', 'm-1'))
  t.equal((await next(alice.client, 'MSG_ACK')).data.status, 'delivered')
  bob.client.send(msg(reader, 'from bob', 'm-1'))
  t.equal((await next(bob.client, 'MSG_ACK')).data.status, 'delivered')
  const got = [await next(reader.client, 'MSG'), await next(reader.client, 'MSG')]
  t.same(got.map((m) => [m.data.content, m.data.chat_id]), [['from alice', toAlice], ['from bob', toBob]])
  // Rita reads Alice's first, as the SDK confirms: with the chat the MSG named.
  reader.client.send({ type: 'MSG_ACK', data: { message_id: 'm-1', chat_id: toAlice } })
  t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'received', chat_id: toAlice, seq: 1 } }, 'Alice hears her message was read')
  reader.client.send({ type: 'MSG_ACK', data: { message_id: 'm-1', chat_id: toBob } })
  t.same(await next(bob.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'received', chat_id: toBob, seq: 1 } }, 'and Bob his, once')
  t.same((await collect(alice.client, 300)).filter((m: Frame) => m.type === 'MSG_ACK'), [], 'nothing more for Alice')
})

for (const [name, envOf] of stores) {
  t.test(`${name}: a stored message is still owed after a later one was handed to the reader's tab without history`, async (t) => {
    const { dep, alice, bob } = await bobOffline(t, await envOf(t))
    alice.client.send(msg(bob, 'while you were away', 'owed-1'))
    t.equal((await next(alice.client, 'MSG_ACK')).data.status, 'stored')
    // Bob comes back in a tab that does not speak history (the FastChat app, an old client).
    const plain = await join(dep, 'Bob', { user_id: bob.user_id })
    alice.client.send(msg(bob, 'are you there?', 'live-2'))
    t.equal((await next(alice.client, 'MSG_ACK')).data.status, 'delivered')
    t.equal((await next(plain.client, 'MSG')).data.message_id, 'live-2', 'handed over live, without its place')
    await plain.client.close()
    await presenceWhere(alice.client, (users) => !users.some((u) => u.user_id === bob.user_id))
    const back = await rejoin(dep, bob)
    const handed = (await collect(back.client, 500)).filter((m: Frame) => m.type === 'MSG').map((m: Frame) => m.data.message_id)
    t.strictSame(handed, ['owed-1', 'live-2'], 'the backlog still has the one never handed over, with the later one again (clients drop repeats by message_id)')
  })
}
