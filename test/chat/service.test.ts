// The FastChat domain without sockets: chats, per-pair ordering, delivery failures and retries,
// dedupe, receipts, typing cleanup and chat cleanup.
import t from 'tap'
import { MemoryHub } from '../../src/backplane/memory.ts'
import type { Backplane, Delivery } from '../../src/backplane/backplane.ts'
import { chatId, participants } from '../../src/chat/chats.ts'
import { FakePeer, instance, openChat, sendMsg, setup, sleep } from '../helpers/chat-fakes.ts'

t.test('chat_id is derived from the pair: the same whoever opens it, different for another pair', async (t) => {
  const [a, b, c] = ['3f1c…a', '9b2e…b', '0d4f…c']
  t.equal(chatId(a, b), chatId(b, a))
  t.not(chatId(a, b), chatId(a, c))
  t.match(chatId(a, b), /^chat_[0-9a-f]{32}$/)
  t.same(participants(b, a), [a, b])
})

t.test('OPEN_CHAT reaches every connection of both users, each seeing the other as target', async (t) => {
  const node = await setup(t)
  const alice = await node.connect('Alice')
  const alice2 = await node.connect('Alice', alice.userId)
  const bob = await node.connect('Bob')
  await openChat(node, alice, bob)
  const [mine] = alice.peer.ofType('CHAT_OPENED')
  t.same(mine.data.target_user_id, bob.userId)
  t.same(alice2.peer.ofType('CHAT_OPENED'), [mine], 'the opener\'s other tab')
  t.same(bob.peer.ofType('CHAT_OPENED')[0].data, { ...mine.data, target_user_id: alice.userId, target_display_name: 'Alice' })
  await openChat(node, bob, alice)
  t.equal(bob.peer.ofType('CHAT_OPENED').length, 2, 're-open: the opener hears again')
  t.equal(alice.peer.ofType('CHAT_OPENED').length, 1, 'the other side does not')
})

t.test('per pair, messages keep their order even when delivery takes uneven time and two tabs send', async (t) => {
  const node = await setup(t)
  const alice = await node.connect('Alice')
  const alice2 = await node.connect('Alice', alice.userId)
  const bob = await node.connect('Bob')
  await openChat(node, alice, bob)
  // A backplane whose deliveries take random time, as a network hop would.
  const deliver = node.backplane.deliver.bind(node.backplane)
  ;(node.backplane as { deliver: Backplane['deliver'] }).deliver = async (userId: string, d: Delivery) => {
    await sleep(Math.random() * 5)
    return deliver(userId, d)
  }
  const sends = []
  for (let i = 0; i < 40; i++) {
    const tab = i % 2 ? alice2 : alice
    sends.push(sendMsg(node, tab, bob, `m${i}`, `id${i}`))
  }
  await Promise.all(sends)
  t.same(bob.peer.ofType('MSG').map((m) => m.data.content), Array.from({ length: 40 }, (_, i) => `m${i}`))
})

t.test('a recipient that cannot take the message: MESSAGE_FAILED, no ack, and a retry with the same id goes through', async (t) => {
  const node = await setup(t)
  const alice = await node.connect('Alice')
  const bob = await node.connect('Bob')
  await openChat(node, alice, bob)
  bob.peer.dead = true
  const send = () => sendMsg(node, alice, bob, 'hi', 'r1')
  await send()
  t.same(alice.peer.messages.at(-1), {
    type: 'ERROR', data: { code: 'MESSAGE_FAILED', message: 'the message could not be handed to the recipient', details: { message_id: 'r1' } }
  })
  t.equal(alice.peer.ofType('MSG_ACK').length, 0, 'never a false ack')
  bob.peer.dead = false
  await send()
  t.same(alice.peer.ofType('MSG_ACK'), [{ type: 'MSG_ACK', data: { message_id: 'r1', status: 'delivered' } }])
  t.equal(bob.peer.ofType('MSG').length, 1)
  await send()
  t.equal(alice.peer.ofType('MSG_ACK').length, 2, 'a duplicate is acknowledged again')
  t.equal(bob.peer.ofType('MSG').length, 1, 'and not delivered again')
})

t.test('dedupe remembers a message_id for 10 minutes, per sender, within bounded memory', async (t) => {
  let now = 1_000_000
  const hub = new MemoryHub({ now: () => now, maxKeys: 1000 })
  const node = await instance(hub)
  t.teardown(node.close)
  const { ledger } = node.chat
  t.equal(await ledger.claim('u1', 'a'), true)
  t.equal(await ledger.claim('u1', 'a'), false, 'seen')
  t.equal(await ledger.claim('u2', 'a'), true, 'per sender')
  now += 10 * 60_000 - 1
  t.equal(await ledger.claim('u1', 'a'), false, 'still seen just before 10 minutes')
  now += 2
  t.equal(await ledger.claim('u1', 'a'), true, 'forgotten after 10 minutes')
  for (let i = 0; i < 5000; i++) await ledger.claim('u3', `m${i}`)
  t.ok(hub.keys.size <= 2000, `memory stays bounded (${hub.keys.size} keys in the ring's 2,000 slots, one per claim)`)
})

t.test('receipts: only the recipient can confirm, once; the sender\'s every tab hears it', async (t) => {
  const node = await setup(t)
  const alice = await node.connect('Alice')
  const alice2 = await node.connect('Alice', alice.userId)
  const bob = await node.connect('Bob')
  const carol = await node.connect('Carol')
  await openChat(node, alice, bob)
  await sendMsg(node, alice, bob, 'hi', 'k')
  t.equal(alice2.peer.ofType('MSG')[0].data.message_id, 'k', 'the other tab got a copy')
  await node.chat.dispatch(carol.session, { type: 'MSG_ACK', data: { message_id: 'k' } })
  t.equal(alice.peer.ofType('MSG_ACK').length, 1, 'a stranger cannot confirm')
  await node.chat.dispatch(bob.session, { type: 'MSG_ACK', data: { message_id: 'k' } })
  await node.chat.dispatch(bob.session, { type: 'MSG_ACK', data: { message_id: 'k' } })
  const received = { type: 'MSG_ACK', data: { message_id: 'k', status: 'received' } }
  t.same(alice.peer.ofType('MSG_ACK').at(-1), received)
  t.equal(alice.peer.ofType('MSG_ACK').filter((m) => m.data.status === 'received').length, 1, 'once')
  t.same(alice2.peer.ofType('MSG_ACK'), [received])
})

t.test('typing: a leaving typist sends is_typing:false to whoever saw true; slow readers miss "true" but not "false"', async (t) => {
  const node = await setup(t)
  const alice = await node.connect('Alice')
  const bob = await node.connect('Bob')
  const carol = await node.connect('Carol')
  for (const other of [bob, carol]) await openChat(node, alice, other)
  carol.peer.slow = true
  await node.chat.dispatch(alice.session, { type: 'TYPING', data: { is_typing: true } })
  t.same(bob.peer.ofType('TYPING'), [{ type: 'TYPING', data: { user_id: alice.userId, is_typing: true } }])
  t.same(carol.peer.ofType('TYPING'), [], 'dropped for the slow reader')
  t.same([...alice.session.typingTo].sort(), [bob.userId, carol.userId].sort())
  await node.chat.disconnect(alice.session)
  const stop = { type: 'TYPING', data: { user_id: alice.userId, is_typing: false } }
  t.same(bob.peer.ofType('TYPING').at(-1), stop)
  t.same(carol.peer.ofType('TYPING'), [stop], '"stopped" reaches even a slow reader')
})

t.test('chats are forgotten once both sides are offline, kept while one stays', async (t) => {
  const node = await setup(t)
  const alice = await node.connect('Alice')
  const bob = await node.connect('Bob')
  await openChat(node, alice, bob)
  await node.chat.disconnect(alice.session)
  t.ok(await node.backplane.chats.isOpen(alice.userId, bob.userId), 'kept: Bob is online, Alice may come back')
  const back = await node.connect('Alice', alice.userId)
  await sendMsg(node, back, bob, 'back', 'b')
  t.same(back.peer.ofType('MSG_ACK'), [{ type: 'MSG_ACK', data: { message_id: 'b', status: 'delivered' } }], 'no new OPEN_CHAT needed')
  await node.chat.disconnect(back.session)
  await node.chat.disconnect(bob.session)
  t.notOk(await node.backplane.chats.isOpen(alice.userId, bob.userId), 'forgotten once both left')
  t.equal(node.backplane.hub.partners.size, 0)
})

t.test('rate limits are per user across connections', async (t) => {
  const node = await setup(t, { msgPerMin: 3 })
  const alice = await node.connect('Alice')
  const alice2 = await node.connect('Alice', alice.userId)
  const bob = await node.connect('Bob')
  await openChat(node, alice, bob)
  for (const [i, tab] of [alice, alice2, alice, alice2].entries()) {
    await sendMsg(node, tab, bob, `m${i}`, `l${i}`)
  }
  t.equal(bob.peer.ofType('MSG').length, 3)
  const limited = alice2.peer.ofType('ERROR')
  t.equal(limited.length, 1)
  t.equal(limited[0].data.code, 'RATE_LIMITED')
  t.ok(limited[0].data.details.retry_after_ms > 0)
})

t.test('a token-bound session closes with 1008 when the token expires', async (t) => {
  const node = await setup(t)
  const alice = await node.connect('Alice')
  alice.session.expireAt(Date.now() + 20)
  await sleep(60)
  t.same(alice.peer.closedWith, { code: 1008, reason: 'token expired' })
  const bob = await node.connect('Bob')
  bob.session.expireAt(Date.now() + 20)
  await node.chat.disconnect(bob.session)
  await sleep(60)
  t.equal(bob.peer.closedWith, undefined, 'the timer goes with the connection')
})

t.test('disconnect: a session that never said HELLO ends at once, with no promise to wait on; an identified one leaves presence', async (t) => {
  const node = await setup(t)
  const anonymous = node.chat.session(new FakePeer())
  t.equal(node.chat.disconnect(anonymous), undefined, 'nothing to wait for: its Conn is not held busy (issue 17, establishment)')
  t.ok(anonymous.closed, 'closed all the same')

  const alice = await node.connect('Alice')
  t.ok(node.presence.isOnline(alice.userId))
  const leaving = node.chat.disconnect(alice.session)
  t.type(leaving, Promise, 'an identified session has presence to leave')
  await leaving
  t.notOk(node.presence.isOnline(alice.userId), 'and has left it')
})
