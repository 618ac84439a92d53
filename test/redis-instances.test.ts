// Several instances as one service over a real Redis (SPEC section 8, issue 8's acceptance):
// users on different instances see each other, chat with truthful acks and receipts, type, keep
// their order, share rate limits, and walker broadcasts reach every instance's sockets.
import t, { type Test } from 'tap'
import { collect, ids, join, type ChatUser, msg, next, openChat, presenceWhere, sleep, type Deployment, type Frame } from './helpers/fastchat.ts'
import { startInstances, type Instances } from './helpers/redis.ts'
import type { TestApp } from './helpers/app.ts'

/** One instance as a FastChat deployment, for the helpers in helpers/fastchat.ts. */
const on = (app: TestApp): Deployment => ({ connect: app.connect, close: async () => {} })

/** The instance applies presence changes 500 ms late, as a busy one would. */
function hearsPresenceLate(app: TestApp): void {
  const presence = app.app.presence
  const apply = presence.presence.bind(presence)
  presence.presence = (change) => void setTimeout(() => apply(change), 500).unref()
}

/** Alice on instance 1 and Bob on 2, each seeing the other, with their chat open. */
async function chattingAcross(t: Test): Promise<{ s: Instances; one: TestApp; two: TestApp; alice: ChatUser; bob: ChatUser }> {
  const s = await instances(t, 2)
  const [one, two] = s.apps as [TestApp, TestApp]
  const alice = await join(on(one), 'Alice')
  const bob = await join(on(two), 'Bob')
  await presenceWhere(alice.client, (u) => u.length === 2)
  await openChat(alice, bob)
  return { s, one, two, alice, bob }
}

async function instances(t: Test, count: number, env: Record<string, string | number | boolean> = {}): Promise<Instances> {
  const s = await startInstances(count, env)
  t.teardown(s.close)
  return s
}

t.test('Alice on instance 1, Bob on 2: presence, OPEN_CHAT, MSG delivered and received, TYPING', async (t) => {
  const { apps: [one, two] } = await instances(t, 2)
  const alice = await join(on(one!), 'Alice')
  const bob = await join(on(two!), 'Bob')
  t.same(ids(bob.presence), [alice.user_id, bob.user_id].sort(), 'Bob\'s first PRESENCE has Alice, from the other instance')
  t.same(ids(await presenceWhere(alice.client, (u) => u.length === 2)), [alice.user_id, bob.user_id].sort(), 'Alice sees Bob')

  const chatId = await openChat(alice, bob)
  t.match(chatId, /^chat_[0-9a-f]{32}$/)

  alice.client.send(msg(bob, 'hello across', 'x-1'))
  t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'x-1', status: 'delivered' } })
  const got = await next(bob.client, 'MSG')
  t.same(got.data, { from: alice.user_id, to: bob.user_id, content: 'hello across', message_id: 'x-1', timestamp: got.data.timestamp })
  bob.client.send({ type: 'MSG_ACK', data: { message_id: 'x-1' } })
  t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'x-1', status: 'received' } }, 'the receipt crosses back')

  alice.client.send(msg(bob, 'hello again', 'x-1'))
  t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'x-1', status: 'delivered' } }, 'a retry is acknowledged')
  t.same((await collect(bob.client, 200)).filter((m: Frame) => m.type === 'MSG'), [], 'and not delivered twice (dedupe is shared)')

  bob.client.send({ type: 'TYPING', data: { is_typing: true, to: alice.user_id } })
  t.same(await next(alice.client, 'TYPING'), { type: 'TYPING', data: { user_id: bob.user_id, is_typing: true } })
  bob.client.close()
  t.same(await next(alice.client, 'TYPING'), { type: 'TYPING', data: { user_id: bob.user_id, is_typing: false } }, 'stopped when Bob leaves')
  t.same(await presenceWhere(alice.client, (u) => u.length === 1), [{ user_id: alice.user_id, display_name: 'Alice', online: true }])
})

t.test('200 rapid messages across instances arrive in order, and their acks too', async (t) => {
  const { apps: [one, two] } = await instances(t, 2, { CHAT_MSG_PER_MIN: 1000, WS_FRAME_BURST: 1000 })
  const alice = await join(on(one!), 'Alice')
  const bob = await join(on(two!), 'Bob')
  await openChat(alice, bob)
  for (let i = 0; i < 200; i++) alice.client.send(msg(bob, `m ${i}`, `o-${i}`))
  const expected = Array.from({ length: 200 }, (_, i) => `o-${i}`)
  const received = await bob.client.receiveUntil((m: Frame) => m.type === 'MSG' && m.data.message_id === 'o-199', { timeout: 15_000 })
  t.same(received.filter((m: Frame) => m.type === 'MSG').map((m: Frame) => m.data.message_id), expected)
  const acks = await alice.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id === 'o-199', { timeout: 15_000 })
  t.same(acks.filter((m: Frame) => m.type === 'MSG_ACK').map((m: Frame) => m.data.message_id), expected)
  // And back the other way, Bob's 200 interleaved with Alice's.
  for (let i = 0; i < 200; i++) {
    bob.client.send(msg(alice, `r ${i}`, `b-${i}`))
    alice.client.send(msg(bob, `a ${i}`, `a-${i}`))
  }
  const atAlice = await alice.client.receiveUntil((m: Frame) => m.type === 'MSG' && m.data.message_id === 'b-199', { timeout: 15_000 })
  t.same(atAlice.filter((m: Frame) => m.type === 'MSG').map((m: Frame) => m.data.message_id), Array.from({ length: 200 }, (_, i) => `b-${i}`))
  const atBob = await bob.client.receiveUntil((m: Frame) => m.type === 'MSG' && m.data.message_id === 'a-199', { timeout: 15_000 })
  t.same(atBob.filter((m: Frame) => m.type === 'MSG').map((m: Frame) => m.data.message_id), Array.from({ length: 200 }, (_, i) => `a-${i}`))
})

t.test('a user who just joined on another instance can be messaged at once, before the join event arrives', async (t) => {
  const { apps: [one, two] } = await instances(t, 2)
  const alice = await join(on(one!), 'Alice')
  // Instance 1 hears of joins late, as a busy instance would; in one process it never loses the race.
  hearsPresenceLate(one!)
  for (let i = 0; i < 5; i++) {
    // The id travels out of band (a link, an invite): no waiting for PRESENCE on instance 1.
    const newcomer = await join(on(two!), `Newcomer ${i}`)
    alice.client.send({ type: 'OPEN_CHAT', data: { target_user_id: newcomer.user_id, target_display_name: 'x' } })
    alice.client.send(msg(newcomer, 'welcome', `w-${i}`))
    t.match(await next(alice.client, 'CHAT_OPENED'), { data: { target_user_id: newcomer.user_id, target_display_name: `Newcomer ${i}` } })
    t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: `w-${i}`, status: 'delivered' } })
    t.equal((await next(newcomer.client, 'MSG')).data.content, 'welcome')
  }
})

t.test('two partners leaving on two instances at once: their chat closes, though each instance still saw the other online', async (t) => {
  const { s, one, two, alice, bob } = await chattingAcross(t)
  const redis = s.redis.client()
  t.same(await redis.smembers(`sb:chats:${alice.user_id}`), [bob.user_id])
  // Both instances hear of leaves late, as busy ones would: each mirror still has the other side online.
  for (const app of [one, two]) hearsPresenceLate(app)
  alice.client.close()
  bob.client.close()
  await sleep(300)
  t.same([await redis.smembers(`sb:chats:${alice.user_id}`), await redis.smembers(`sb:chats:${bob.user_id}`)], [[], []], 'the chat is closed on both sides')
})

t.test('a chat whose one side expired is closed for both directions', async (t) => {
  const { s, alice, bob } = await chattingAcross(t)
  const redis = s.redis.client()
  await redis.del(`sb:chats:${alice.user_id}`) // Alice's set ran out its 24 h while Bob's lived on
  bob.client.send(msg(alice, 'still open?', 'h-1'))
  t.same(await next(bob.client, 'ERROR'), { type: 'ERROR', data: { code: 'CHAT_NOT_OPENED', message: 'open a chat with this user first', details: { message_id: 'h-1' } } })
  alice.client.send(msg(bob, 'and this way?', 'h-2'))
  t.equal((await next(alice.client, 'ERROR')).data.code, 'CHAT_NOT_OPENED', 'the same answer both ways')
  t.same(await redis.smembers(`sb:chats:${bob.user_id}`), [], 'the half left behind is gone')
})

t.test('the same user on both instances is one presence entry and gets messages on both', async (t) => {
  const { apps: [one, two, three] } = await instances(t, 3)
  const carol = await join(on(three!), 'Carol')
  const bob1 = await join(on(one!), 'Bob')
  const bob2 = await join(on(two!), 'Bob', { user_id: bob1.user_id })
  t.same(ids(bob2.presence), [bob1.user_id, carol.user_id].sort(), 'one entry for Bob')
  t.equal(bob2.presence.length, 2)
  await presenceWhere(carol.client, (u) => u.length === 2)

  await openChat(carol, bob1)
  t.equal((await next(bob2.client, 'CHAT_OPENED')).data.target_user_id, carol.user_id, 'CHAT_OPENED on both instances')
  carol.client.send(msg(bob1, 'to every tab', 'c-1'))
  t.same(await next(carol.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'c-1', status: 'delivered' } })
  const [m1, m2] = await Promise.all([next(bob1.client, 'MSG'), next(bob2.client, 'MSG')])
  t.same(m1, m2, 'both of Bob\'s connections got it')

  bob2.client.send(msg(carol, 'from instance 2', 'b-1'))
  t.same(await next(bob2.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'b-1', status: 'delivered' } })
  t.equal((await next(bob1.client, 'MSG')).data.message_id, 'b-1', 'the tab on instance 1 gets a copy of what the tab on 2 sent')
  t.equal((await next(carol.client, 'MSG')).data.message_id, 'b-1')

  bob1.client.close()
  await bob1.client.closed
  t.notOk((await collect(carol.client, 300)).some((m: Frame) => m.type === 'PRESENCE' && m.data.users.length < 2), 'Bob stays online through instance 2')
  bob2.client.close()
  t.same(ids(await presenceWhere(carol.client, (u) => u.length === 1)), [carol.user_id])
})

t.test('a tab that closes while the same user\'s new tab is saying HELLO (a reconnect) leaves the user online and reachable everywhere', async (t) => {
  const { apps: [one, two], redis } = await instances(t, 2)
  const bob = await join(on(two!), 'Bob')
  const admin = redis.client()
  for (let round = 0; round < 3; round++) {
    const old = await join(on(one!), 'Alice')
    await presenceWhere(bob.client, (u) => u.some((x) => x.user_id === old.user_id))
    const fresh = await one!.connect('/ws')
    await fresh.receiveJson() // WELCOME
    // The new tab's HELLO is still joining (a Redis round trip) when the old tab goes.
    fresh.send({ type: 'HELLO', data: { user_id: old.user_id, display_name: 'Alice' } })
    old.client.terminate()
    t.equal((await fresh.receiveJson()).type, 'HELLO_ACK')
    await sleep(300) // the old tab's leave has long been handled
    t.equal(await admin.hget('sb:names', old.user_id), 'Alice', 'Redis still has her online')
    t.ok(one!.app.presence.isOnline(old.user_id) && two!.app.presence.isOnline(old.user_id), 'both instances too')
    bob.client.send({ type: 'OPEN_CHAT', data: { target_user_id: old.user_id, target_display_name: 'Alice' } })
    t.equal((await next(bob.client, 'CHAT_OPENED')).data.target_user_id, old.user_id, 'Bob can open a chat with her')
    bob.client.send(msg({ user_id: old.user_id, display_name: 'Alice' } as ChatUser, `are you back? ${round}`, `back-${round}`))
    t.equal((await next(fresh, 'MSG')).data.content, `are you back? ${round}`, 'and his message reaches the new tab, across instances')
    fresh.close()
    await presenceWhere(bob.client, (u) => !u.some((x) => x.user_id === old.user_id))
  }
})

t.test('the rate limit is shared: 40 MSG via instance 1 and 21 via instance 2, the 61st is RATE_LIMITED', async (t) => {
  const { apps: [one, two] } = await instances(t, 2)
  const bob = await join(on(two!), 'Bob')
  const alice1 = await join(on(one!), 'Alice')
  const alice2 = await join(on(two!), 'Alice', { user_id: alice1.user_id })
  await openChat(alice1, bob)
  for (let i = 1; i <= 40; i++) alice1.client.send(msg(bob, `n${i}`, `one-${i}`))
  const first = await alice1.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id === 'one-40', { timeout: 5000 })
  t.equal(first.filter((m: Frame) => m.type === 'MSG_ACK').length, 40, '40 acknowledged on instance 1')
  for (let i = 1; i <= 21; i++) alice2.client.send(msg(bob, `m${i}`, `two-${i}`))
  const second = await alice2.client.receiveUntil((m: Frame) => m.type === 'ERROR' || (m.type === 'MSG_ACK' && m.data.message_id === 'two-21'), { timeout: 5000 })
  const acked = second.filter((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id.startsWith('two-')).map((m: Frame) => m.data.message_id)
  t.same(acked, Array.from({ length: 20 }, (_, i) => `two-${i + 1}`), '20 more acknowledged on instance 2')
  const limited = second.at(-1)
  t.equal(limited.data.code, 'RATE_LIMITED', 'the 61st in the minute is refused')
  t.equal(limited.data.details.message_id, 'two-21')
  t.ok(limited.data.details.retry_after_ms > 0)
})

t.test('presence coalescing and delta mode across instances: a join on 1 reaches 2\'s clients within the debounce window', async (t) => {
  const debounce = 200
  const { apps: [one, two] } = await instances(t, 2, { PRESENCE_DEBOUNCE_MS: debounce })
  const full = await join(on(two!), 'Watcher')
  const delta = await join(on(two!), 'Delta', { capabilities: ['presence_delta'] })
  await collect(full.client, debounce + 50) // past both windows
  await collect(delta.client, 10)

  const started = Date.now()
  const carol = await join(on(one!), 'Carol')
  const [fullList, deltaFrame] = await Promise.all([
    presenceWhere(full.client, (u) => u.some((x) => x.user_id === carol.user_id), debounce + 500),
    next(delta.client, 'PRESENCE', debounce + 500)
  ])
  const took = Date.now() - started
  t.ok(took < debounce, `both got it ${took} ms after the HELLO on the other instance`)
  t.equal(fullList.length, 3)
  t.same(deltaFrame.data.users, [{ user_id: carol.user_id, display_name: 'Carol', online: true }], 'only the change, for delta')

  // A burst on instance 1 is coalesced on instance 2 like a local one.
  const burst: ChatUser[] = []
  for (let i = 0; i < 6; i++) burst.push(await join(on(one!), `User ${i}`))
  const frames: number[] = []
  const until = Date.now() + 3000
  while (Date.now() < until && frames.at(-1) !== 9) {
    const m = await full.client.waitFor((f: Frame) => f.type === 'PRESENCE', { timeout: until - Date.now() })
    frames.push(m.data.users.length)
  }
  t.equal(frames.at(-1), 9, 'the last state arrives')
  t.ok(frames.length <= 3, `6 joins in ${frames.length} PRESENCE frames`)
  for (const u of burst) u.client.close()
  const entries = (await delta.client.receiveUntil((m: Frame) => m.type === 'PRESENCE' &&
    m.data.users.some((x: Frame) => x.user_id === burst[5]!.user_id && !x.online), { timeout: 3000 }))
    .filter((m: Frame) => m.type === 'PRESENCE').flatMap((m: Frame) => m.data.users)
  t.ok(entries.every((e: Frame) => burst.some((u) => u.user_id === e.user_id)), 'delta frames name only the users who changed')
})

t.test('a broadcast walker fans out across instances; other walkers do not', async (t) => {
  const { apps: [one, two] } = await instances(t, 2)
  const a = await one!.connect('/ws/Announce')
  const b = await two!.connect('/ws/Announce')
  const c = await two!.connect('/ws/Announce')
  const echo = await two!.connect('/ws/EchoMessage')
  // A subscription is in place once a local broadcast on that instance arrives.
  b.send({ message: 'ready?', from: 'b' })
  for (const x of [b, c]) await x.waitFor((m: Frame) => m.ok && m.data.reports[0].from === 'b')
  await a.waitFor((m: Frame) => m.ok && m.data.reports[0].from === 'b', { timeout: 3000 })

  a.send({ message: 'hello room', from: 'a' })
  const expected = '{"ok":true,"data":{"reports":[{"from":"a","message":"hello room"}]}}'
  t.equal(await a.receiveText(), expected, 'the sender, on instance 1')
  t.equal(await b.receiveText(), expected, 'a socket on instance 2')
  t.equal(await c.receiveText(), expected, 'another socket on instance 2')
  await echo.expectNoMessage(150)
  await a.expectNoMessage(50) // exactly once: not echoed back through Redis

  for (let i = 0; i < 20; i++) b.send({ message: `n${i}`, from: 'b' })
  const order = Array.from({ length: 20 }, (_, i) => `n${i}`)
  const seen = async (x: typeof a) => (await x.receiveUntil((m: Frame) => m.data.reports[0].message === 'n19', { timeout: 3000 })).map((m: Frame) => m.data.reports[0].message)
  t.same(await seen(a), order, 'in order on the other instance')
  t.same(await seen(b), order, 'in order for the sender')
})

t.test('/health says redis ok on every instance', async (t) => {
  const { apps } = await instances(t, 2)
  for (const app of apps) {
    const res = await fetch(`${app.http}/health`)
    t.equal(res.status, 200)
    t.match(await res.json(), { status: 'ok', checks: { redis: 'ok' } })
  }
})
