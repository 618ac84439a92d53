// The FastChat client SDK (src/client) in Node on `ws`, against the real server: identity,
// presence in both modes, chats, acks and receipts, typing, errors matched to their requests,
// heartbeat, backoff, resend after drops and restarts, and close.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { startApp } from './helpers/app.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'
import { chatClient, joinAs, nextEvent, record, sleep } from './helpers/chat-client.ts'
import { backoffCeiling, FastChatError, type ReconnectScheduled, type StateChange } from '../src/client/index.ts'

/** Fast reconnects for tests; the formula is the same as the defaults'. */
const QUICK = { backoff: { baseMs: 50, capMs: 400 } }

t.test('hello, presence, openChat, send → delivered → received, incoming message, typing', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const url = s.ws('/ws')
  const welcome = chatClient(t, url)
  const greeted = nextEvent(welcome, 'WELCOME')
  welcome.connect()
  t.match(await greeted, { client_id: /^ws_client_/, protocols: ['echo', 'fastchat'] }, 'typed WELCOME event')

  const alice = await joinAs(t, url, 'Alice')
  t.equal(alice.client.state, 'open')
  t.same(alice.client.user, { user_id: alice.user_id, display_name: 'Alice' })
  const sawBob = nextEvent(alice.client, 'presence', (p) => p.changes.some((c) => c.display_name === 'Bob' && c.online))
  const bob = await joinAs(t, url, 'Bob')
  const change = await sawBob
  t.equal(change.full, true, 'full mode: every PRESENCE is the whole list')
  t.same([...alice.client.presence.keys()].sort(), [alice.user_id, bob.user_id].sort(), 'presence snapshot has both')

  const bobSees = nextEvent(bob.client, 'CHAT_OPENED')
  const opened = await alice.client.openChat(bob.user_id, 'Bob')
  t.equal(opened.target_user_id, bob.user_id)
  t.equal((await bobSees).target_user_id, alice.user_id, "Bob's CHAT_OPENED names Alice")

  const statuses = record(alice.client, 'status')
  const incoming = nextEvent(bob.client, 'message')
  const received = nextEvent(alice.client, 'status', (s) => s.status === 'received')
  const result = await alice.client.send(bob.user_id, 'Hi Bob', { message_id: 'm-1' })
  t.same(result, { message_id: 'm-1', status: 'delivered' }, 'send() resolves on MSG_ACK delivered')
  t.match(await incoming, { from: alice.user_id, to: bob.user_id, content: 'Hi Bob', message_id: 'm-1' })
  t.same(await received, { message_id: 'm-1', to: bob.user_id, status: 'received' }, "Bob's client confirmed it (autoReceipt)")
  t.same(statuses.map((s) => s.status), ['pending', 'delivered', 'received'])

  // Bob answers without an OPEN_CHAT of his own: the chat Alice opened is enough.
  const reply = nextEvent(alice.client, 'message')
  await bob.client.send(alice.user_id, 'Hello Alice')
  t.equal((await reply).content, 'Hello Alice')

  const typing = nextEvent(bob.client, 'TYPING')
  t.equal(alice.client.typing(true, bob.user_id), true)
  t.same(await typing, { user_id: alice.user_id, is_typing: true })
  t.equal(alice.client.typing(true, randomUUID()), false, 'typing to a user without an open chat is not sent')
})

t.test('presence: full and delta modes keep the same Map and report the same changes', async (t) => {
  const s = await startApp({ PRESENCE_DEBOUNCE_MS: 10 })
  t.teardown(s.close)
  const url = s.ws('/ws')
  const full = await joinAs(t, url, 'Fullmode')
  const sawDelta = nextEvent(full.client, 'presence', (p) => [...p.users.values()].some((u) => u.display_name === 'Deltamode'))
  const delta = await joinAs(t, url, 'Deltamode', { presence: 'delta' })
  t.ok(delta.client.presence.has(full.user_id), 'delta mode starts from the full list')
  await sawDelta

  const events = { full: record(full.client, 'presence'), delta: record(delta.client, 'presence') }
  const raw = record(delta.client, 'PRESENCE')
  const dana = await joinAs(t, url, 'Dana')
  await Promise.all([full, delta].map((u) => nextEvent(u.client, 'presence', (p) => p.users.has(dana.user_id))))
  dana.client.close()
  await Promise.all([full, delta].map((u) => nextEvent(u.client, 'presence', (p) => !p.users.has(dana.user_id))))

  for (const mode of ['full', 'delta'] as const) {
    const changes = events[mode].flatMap((e) => e.changes)
    t.same(changes, [
      { user_id: dana.user_id, display_name: 'Dana', online: true },
      { user_id: dana.user_id, display_name: 'Dana', online: false }
    ], `${mode}: Dana came and went`)
    t.same(events[mode].map((e) => e.full), mode === 'full' ? [true, true] : [false, false])
  }
  t.ok(raw.every((p) => p.users.length === 1), 'delta mode: the server sent only the changed entry')
  t.same([...delta.client.presence.keys()].sort(), [full.user_id, delta.user_id].sort())
})

t.test('errors are matched to the request that caused them', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const url = s.ws('/ws')
  const client = chatClient(t, url)
  const id = randomUUID()
  const refused = await client.hello({ user_id: id, display_name: 'Al' }).catch((e: unknown) => e)
  t.ok(refused instanceof FastChatError)
  t.match(refused, { code: 'VALIDATION', details: { errors: [{ path: '/data/display_name' }] } }, 'HELLO refusal rejects hello()')
  t.equal(client.state, 'open', 'the connection stays usable')
  await client.hello({ user_id: id, display_name: 'Alice' })
  t.equal(client.user?.display_name, 'Alice', 'a corrected HELLO is accepted')

  const stranger = randomUUID()
  await t.rejects(client.openChat(stranger), { code: 'USER_NOT_FOUND' }, 'openChat to an offline user')
  await t.rejects(client.send(stranger, 'anyone there?'), { code: 'USER_NOT_FOUND' }, 'send to an offline user')
  await t.rejects(client.send(id, 'me'), { code: 'VALIDATION', message: /yourself/ }, 'send to self, refused locally')
  await t.rejects(client.send('bob', 'x'), { code: 'VALIDATION', message: /UUID/ }, 'a malformed id, refused locally')
  await t.rejects(client.send(stranger, '   '), { code: 'VALIDATION' }, 'empty content, refused locally')
  await t.rejects(client.send(stranger, 'x'.repeat(70_000)), { code: 'VALIDATION', message: /too large/ }, 'a frame the server would close on')

  const bob = await joinAs(t, url, 'Bob')
  await client.openChat(bob.user_id)
  await t.rejects(client.send(bob.user_id, '<script>alert(1)</script>'), { code: 'VALIDATION', details: { message_id: /./ } },
    'content empty after HTML stripping: the server refuses it')
  t.same(client.pending, [], 'nothing left waiting')
})

t.test('send() rejects with RATE_LIMITED on the 61st message; the first 60 are delivered', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const url = s.ws('/ws')
  const alice = await joinAs(t, url, 'Alice')
  const bob = await joinAs(t, url, 'Bob')
  await alice.client.openChat(bob.user_id)
  const got = record(bob.client, 'message')
  const results = await Promise.allSettled(Array.from({ length: 61 }, (_, i) => alice.client.send(bob.user_id, `n${i + 1}`)))
  t.same(results.slice(0, 60).map((r) => r.status), Array(60).fill('fulfilled'))
  const last = results[60]!
  t.equal(last.status, 'rejected')
  if (last.status === 'rejected') {
    t.ok(last.reason instanceof FastChatError)
    t.equal(last.reason.code, 'RATE_LIMITED')
    t.ok(last.reason.details.retry_after_ms > 0, `retry_after_ms ${last.reason.details.retry_after_ms}`)
  }
  await sleep(200)
  t.same(got.map((m) => m.content), Array.from({ length: 60 }, (_, i) => `n${i + 1}`), 'Bob got 60, in order')
})

/** The server, and Alice connected to it through a proxy that can stall, with a quick heartbeat. */
async function aliceBehindProxy(t: Test, pongTimeoutMs: number) {
  const s = await startApp()
  t.teardown(s.close)
  const proxy = await TcpProxy.start(s.port)
  t.teardown(() => proxy.close())
  const alice = await joinAs(t, `ws://127.0.0.1:${proxy.port}/ws`, 'Alice', { ...QUICK, pingIntervalMs: 100, pongTimeoutMs })
  return { s, proxy, alice }
}

t.test('heartbeat: a path that stops answering PING is dropped and the client reconnects', async (t) => {
  const { s, proxy, alice } = await aliceBehindProxy(t, 150)
  const pongs = record(alice.client, 'PONG')
  await sleep(350)
  t.ok(pongs.length >= 2, `PING every 100 ms is answered (${pongs.length} PONGs)`)

  const states = record(alice.client, 'state')
  const stalledAt = Date.now()
  proxy.stall()
  const scheduled = await nextEvent(alice.client, 'reconnect')
  const took = Date.now() - stalledAt
  t.match(scheduled.reason, /heartbeat timeout/)
  t.ok(took >= 150 && took < 1500, `dropped ${took} ms after the path went silent (interval 100 + timeout 150)`)
  await nextEvent(alice.client, 'state', (s) => s.state === 'open')
  t.same(states.map((s) => s.state), ['reconnecting', 'open'])
  t.equal(proxy.connections, 2, 'a new connection')

  // Usable again: HELLO was sent on the new connection.
  const bob = await joinAs(t, s.ws('/ws'), 'Bob')
  await alice.client.openChat(bob.user_id)
  t.equal((await alice.client.send(bob.user_id, 'still here')).status, 'delivered')
})

t.test('a message whose ack was lost is resent with the same id and delivered exactly once', async (t) => {
  const { s, proxy, alice } = await aliceBehindProxy(t, 200)
  const bob = await joinAs(t, s.ws('/ws'), 'Bob')
  await alice.client.openChat(bob.user_id)
  const raw = record(bob.client, 'MSG')
  proxy.stall('to-client') // Alice's frames still reach the server; nothing comes back
  const arrived = nextEvent(bob.client, 'MSG')
  const sent = alice.client.send(bob.user_id, 'once', { message_id: 'lost-ack' })
  await arrived
  t.equal(alice.client.pending.length, 1, 'delivered, but Alice has no ack')
  t.same(await sent, { message_id: 'lost-ack', status: 'delivered' }, 'resolved after the reconnect and the resend')
  t.equal(proxy.connections, 2)
  await sleep(300)
  t.same(raw.map((m) => m.message_id), ['lost-ack'], 'the server deduped the resend: Bob got it once')
})

t.test('messages sent while the server restarts are delivered exactly once after reconnecting, in order', async (t) => {
  let s = await startApp()
  const port = s.port
  t.teardown(() => s.close())
  const url = s.ws('/ws')
  const alice = await joinAs(t, url, 'Alice', QUICK)
  const bob = await joinAs(t, url, 'Bob', QUICK)
  await alice.client.openChat(bob.user_id)
  await alice.client.send(bob.user_id, 'before')
  const raw = record(bob.client, 'MSG')
  const states = { alice: record(alice.client, 'state'), bob: record(bob.client, 'state') }
  const retries = record(alice.client, 'reconnect')

  const down = Promise.all([alice, bob].map((u) => nextEvent(u.client, 'state', (s) => s.state === 'reconnecting')))
  await s.close()
  await down
  const contents = ['one', 'two', 'three', 'four', 'five']
  const sends = contents.map((c) => alice.client.send(bob.user_id, c))
  t.same(alice.client.pending.map((p) => p.content), contents, 'queued while the server is down')
  await sleep(300)

  s = await startApp({}, { port })
  const results = await Promise.all(sends)
  t.ok(results.every((r) => r.status === 'delivered' || r.status === 'received'), 'every send settled delivered')
  await sleep(500)
  t.same(raw.map((m) => m.content), contents, 'Bob got each once, in order')
  t.same(states.alice.map((s) => s.state), ['reconnecting', 'open'])
  t.same(states.bob.map((s) => s.state), ['reconnecting', 'open'])
  t.equal(retries[0]?.attempt, 1, 'the first retry is attempt 1')
  t.match(retries[0]?.reason, /closed 1001/, 'the server said it was going away')

  // Attempts start over after a success.
  const again = nextEvent(alice.client, 'reconnect')
  await s.close()
  t.equal((await again).attempt, 1, 'a later drop starts the backoff from the beginning')
})

t.test('queued messages wait for a peer that is reconnecting too; past the grace period they fail USER_NOT_FOUND', async (t) => {
  let s = await startApp()
  const port = s.port
  t.teardown(() => s.close())
  const url = s.ws('/ws')
  const alice = await joinAs(t, url, 'Alice', { ...QUICK, peerGraceMs: 5000 })
  const bob = await joinAs(t, url, 'Bob', QUICK)
  const carol = await joinAs(t, url, 'Carol', { ...QUICK, peerGraceMs: 300 })
  await alice.client.openChat(bob.user_id)
  await carol.client.openChat(bob.user_id)
  bob.client.close() // Bob's laptop sleeps through the restart
  await s.close()
  const sends = ['one', 'two', 'three'].map((c) => alice.client.send(bob.user_id, c))
  const lost = carol.client.send(bob.user_id, 'nobody comes')
  // When each settles, taken as it happens: Carol's may fail before Alice is back.
  const lostAt = lost.then(() => NaN, () => Date.now())
  const carolBack = nextEvent(carol.client, 'state', (st) => st.state === 'open').then(() => Date.now())
  const statuses = record(alice.client, 'status')
  // Listening before the server is back: a client may reconnect the moment it listens.
  const back = [alice, carol].map((u) => nextEvent(u.client, 'state', (st) => st.state === 'open', 15_000))
  s = await startApp({}, { port })
  await Promise.all(back)

  await t.rejects(lost, { code: 'USER_NOT_FOUND' }, "Carol's grace ended: the server's verdict stands")
  const waited = (await lostAt) - (await carolBack)
  t.ok(waited >= 200, `not before the grace period (${waited} ms after Carol was back)`)
  await sleep(300)
  t.same(alice.client.pending.map((p) => p.content), ['one', 'two', 'three'], 'Alice still holds hers: Bob may come back')
  t.same(statuses, [], 'none failed')

  const bob2 = chatClient(t, s.ws('/ws'))
  const got = record(bob2, 'message')
  await bob2.hello({ user_id: bob.user_id, display_name: 'Bob' })
  t.ok((await Promise.all(sends)).every((r) => r.message_id), 'delivered once Bob is back')
  await sleep(200)
  t.same(got.map((m) => m.content), ['one', 'two', 'three'], 'in order, once each')
})

t.test('after a restart, a message sent before its chat peer is back waits for the peer (grace), then arrives', async (t) => {
  // Everyone reconnects after a restart, in no particular order: a sender back first must not
  // get USER_NOT_FOUND for a peer that is only a moment behind.
  let s = await startApp()
  const port = s.port
  t.teardown(() => s.close())
  const alice = await joinAs(t, s.ws('/ws'), 'Alice', { ...QUICK, peerGraceMs: 5000 })
  const bob = await joinAs(t, s.ws('/ws'), 'Bob', QUICK)
  await alice.client.openChat(bob.user_id)
  bob.client.close() // Bob is slow to come back
  await s.close()
  const back = nextEvent(alice.client, 'state', (st) => st.state === 'open', 15_000)
  s = await startApp({}, { port })
  await back
  const errors = record(alice.client, 'ERROR')
  const sent = alice.client.send(bob.user_id, 'sent after the reconnect') // not queued: Alice is open
  await sleep(300)
  t.same(alice.client.pending.map((p) => p.content), ['sent after the reconnect'], 'held while Bob is away')
  const bob2 = chatClient(t, s.ws('/ws'))
  const got = record(bob2, 'message')
  await bob2.hello({ user_id: bob.user_id, display_name: 'Bob' })
  t.ok((await sent).message_id, 'delivered once Bob is back')
  await sleep(100)
  t.same(got.map((m) => m.content), ['sent after the reconnect'])
  t.same(errors.filter((e) => e.code !== 'USER_NOT_FOUND'), [], 'no other error on the way')
})

t.test('backoff: the delays follow random · min(cap, base · factor^n), unlimited until close', async (t) => {
  const port = await closedPort()
  const draws = [0.5, 0.999, 0.25, 0, 0.75, 0.999, 0.999, 0.1]
  let i = 0
  const backoff = { baseMs: 20, factor: 2, capMs: 200 }
  const client = chatClient(t, `ws://127.0.0.1:${port}/ws`, { backoff, random: () => draws[i++ % draws.length]! })
  const scheduled: (ReconnectScheduled & { at: number })[] = []
  client.on('reconnect', (r) => scheduled.push({ ...r, at: Date.now() }))
  client.connect()
  while (scheduled.length < draws.length + 1) await sleep(20)
  for (const [n, r] of scheduled.slice(0, draws.length).entries()) {
    const ceiling = Math.min(200, 20 * 2 ** n)
    t.equal(r.attempt, n + 1)
    t.equal(r.delayMs, Math.floor(draws[n]! * ceiling), `retry ${n + 1}: ${draws[n]} × ${ceiling} ms`)
    const gap = scheduled[n + 1]!.at - r.at
    t.ok(gap >= r.delayMs - 2 && gap < r.delayMs + 100, `retry ${n + 1} waited ${gap} ms for a delay of ${r.delayMs}`)
  }
  t.equal(client.state, 'reconnecting', 'still trying: retries are unlimited by default')
  t.match(scheduled[0]!.reason, /socket error|closed/)

  const states = record(client, 'state')
  client.close()
  t.same(states.map((s: StateChange) => s.state), ['closed'])
  const count = scheduled.length
  await sleep(500)
  t.equal(scheduled.length, count, 'no retry after close()')
})

t.test('backoff: with Math.random every delay stays within its jitter bounds; maxRetries gives up', async (t) => {
  t.same(Array.from({ length: 9 }, (_, n) => backoffCeiling(n)), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
    'defaults: base 500 ms, factor 2, cap 30 s')
  const port = await closedPort()
  const client = chatClient(t, `ws://127.0.0.1:${port}/ws`, { backoff: { baseMs: 10, capMs: 80 }, maxRetries: 12 })
  const scheduled = record(client, 'reconnect')
  const closed = nextEvent(client, 'state', (s) => s.state === 'closed', 10_000)
  client.connect()
  t.match((await closed).reason, /gave up after 12 attempts/)
  t.equal(scheduled.length, 12)
  for (const [n, r] of scheduled.entries()) {
    const ceiling = Math.min(80, 10 * 2 ** n)
    t.ok(r.delayMs >= 0 && r.delayMs < ceiling, `retry ${n + 1}: ${r.delayMs} in [0, ${ceiling})`)
  }
})

t.test('close(): pending requests reject with CLOSED, no reconnect, no heartbeat', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const alice = await joinAs(t, s.ws('/ws'), 'Alice', { pingIntervalMs: 50, pongTimeoutMs: 50 })
  const stranger = randomUUID()
  const frames = record(alice.client, 'PONG')
  alice.client.close()
  t.equal(alice.client.state, 'closed')
  await t.rejects(alice.client.send(stranger, 'late'), { code: 'CLOSED' })
  await t.rejects(alice.client.openChat(stranger), { code: 'CLOSED' })
  const before = frames.length
  await sleep(300)
  t.equal(frames.length, before, 'no more PINGs')
  t.equal(alice.client.state, 'closed')

  // A send waiting for a connection when close() comes is rejected, not left hanging.
  const port = await closedPort()
  const offline = chatClient(t, `ws://127.0.0.1:${port}/ws`, QUICK)
  void offline.hello({ user_id: randomUUID(), display_name: 'Offline' }).catch(() => {})
  const waiting = offline.send(stranger, 'never')
  const statuses = record(offline, 'status')
  offline.close()
  await t.rejects(waiting, { code: 'CLOSED' })
  t.same(statuses.map((s) => s.status), ['failed'])
})

/** A port nothing listens on: connections are refused at once. */
async function closedPort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as { port: number }
  await new Promise((resolve) => srv.close(resolve))
  return port
}
