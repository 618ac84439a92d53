// The client SDK at the edges of a history log, frame by frame against a fake socket (the orders
// below are races against a real server): a log that is gone says nothing of messages sent into
// it; a message whose ack was lost and that the catch-up finds in the log is sent, with the log's
// status, and not failed by what a resend meets; a receipt asked for while reconnecting is sent
// after the next HELLO_ACK.
import t from 'tap'
import { FastChatClient, uuidv4, type StatusChange } from '../src/client/index.ts'
import { FakeSocket, tick } from './helpers/fake-socket.ts'

const alice = uuidv4()
const bob = uuidv4()
const CHAT = 'chat_0123456789abcdef0123456789abcdef'

/** Alice's client, identified on a fake socket; `statuses` collects her status events. */
async function aliceClient(t: Tap, opts: { history?: boolean; catchUp?: boolean } = {}) {
  const client = new FastChatClient({ url: 'ws://fake/ws', WebSocket: FakeSocket as never, history: opts.history ?? true, catchUp: opts.catchUp ?? true, random: () => 0, peerGraceMs: 0 })
  t.teardown(() => client.close())
  const statuses: string[] = []
  client.on('status', (s: StatusChange) => statuses.push(`${s.message_id} ${s.status}`))
  const hello = client.hello({ user_id: alice, display_name: 'Alice' })
  await tick()
  greet(FakeSocket.last)
  await hello
  return { client, statuses }
}
type Tap = { teardown(fn: () => unknown): void }

function greet(socket: FakeSocket, chats: unknown[] = []): void {
  socket.open()
  socket.receive('HELLO_ACK', { user_id: alice, status: 'connected' })
  socket.receive('PRESENCE', { users: [{ user_id: alice, display_name: 'Alice', online: true }, { user_id: bob, display_name: 'Bob', online: true }] })
  socket.receive('CHATS', { chats })
}

/** Alice sends `id` to Bob; the server acks it `stored` at `seq` (the chat opened first). */
async function sendStored(client: FastChatClient, id: string, seq: number) {
  const sent = client.send(bob, id, { message_id: id })
  await tick()
  const socket = FakeSocket.last
  if (!socket.sent.some((f) => f.type === 'MSG')) {
    socket.receive('CHAT_OPENED', { chat_id: CHAT, participants: [alice, bob].sort(), target_user_id: bob, target_display_name: 'Bob', last_seq: seq - 1 })
    await tick()
  }
  socket.receive('MSG_ACK', { message_id: id, status: 'stored', chat_id: CHAT, seq, content: id })
  return sent
}

/** The connection dies; the client reconnects at once (random 0) on a new fake socket. */
async function reconnect(): Promise<FakeSocket> {
  const before = FakeSocket.made.length
  FakeSocket.last.drop()
  while (FakeSocket.made.length === before) await tick()
  return FakeSocket.last
}

t.test('a log that is gone: the new log\'s acks and receipts say nothing of messages sent into the old one', async (t) => {
  const { client, statuses } = await aliceClient(t)
  await sendStored(client, 'old-1', 1)
  await sendStored(client, 'old-2', 2)
  const resets: unknown[] = []
  client.on('chat_reset', (r) => resets.push(r))
  const socket = await reconnect()
  greet(socket) // CHATS without the chat: its log is gone (a memory store restarted)
  await tick()
  t.equal(resets.length, 1, 'chat_reset')
  socket.receive('CHAT_OPENED', { chat_id: CHAT, participants: [alice, bob].sort(), target_user_id: bob, target_display_name: 'Bob', last_seq: 0 })
  statuses.length = 0
  for (let seq = 1; seq <= 3; seq++) {
    const id = `new-${seq}`
    void client.send(bob, id, { message_id: id })
    await tick()
    socket.receive('MSG_ACK', { message_id: id, status: 'delivered', chat_id: CHAT, seq, content: id })
  }
  socket.receive('MSG_ACK', { message_id: 'new-3', status: 'received', chat_id: CHAT, seq: 3 })
  await tick()
  t.same(statuses.filter((s) => s.startsWith('old')), [], 'old-1 and old-2 are not the new log\'s seq 1 and 2')
  t.same(statuses.filter((s) => s.endsWith('received')), ['new-1 received', 'new-2 received', 'new-3 received'], 'the receipt covers the new log\'s messages')
})

t.test('a message whose ack was lost, found in the catch-up\'s page: sent with the log\'s status, and a refused resend does not fail it', async (t) => {
  const { client, statuses } = await aliceClient(t)
  await sendStored(client, 'one', 1)
  const two = client.send(bob, 'two', { message_id: 'two' })
  await tick() // written; its ack never comes (the path died)
  const socket = await reconnect()
  greet(socket, [{ chat_id: CHAT, target_user_id: bob, target_display_name: 'Bob', epoch: 'e1', last_seq: 2, unread: 0 }])
  await tick()
  const request = socket.sent.find((f) => f.type === 'HISTORY')
  t.match(request, { type: 'HISTORY', data: { chat_id: CHAT, after_seq: 1 } }, 'the catch-up asks for what came after seq 1')
  socket.receive('HISTORY', {
    chat_id: CHAT, epoch: 'e1', first_seq: 1, last_seq: 2, has_more: false,
    messages: [{ from: alice, to: bob, content: 'two', message_id: 'two', timestamp: '2026-12-07T18:00:00.000Z', seq: 2, status: 'received' }]
  })
  const settled = await Promise.race([two, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 500))])
  t.match(settled, { message_id: 'two', status: 'received', chat_id: CHAT, seq: 2 }, 'the send resolves with the log\'s status')
  // A resend written at the HELLO_ACK is refused afterwards (HISTORY and MSG share the rate limit).
  socket.receive('ERROR', { code: 'RATE_LIMITED', message: 'too many messages', details: { message_id: 'two', retry_after_ms: 50_000 } })
  await tick()
  t.same(statuses.filter((s) => s.startsWith('two')), ['two pending', 'two received'], 'received, and never failed')
  t.same(client.pending, [], 'nothing left to resend')
})

t.test('the same found in a page the application asked for (no catch-up)', async (t) => {
  const { client, statuses } = await aliceClient(t, { catchUp: false })
  await sendStored(client, 'one', 1)
  const two = client.send(bob, 'two', { message_id: 'two' })
  await tick()
  const socket = await reconnect()
  greet(socket, [{ chat_id: CHAT, target_user_id: bob, target_display_name: 'Bob', epoch: 'e1', last_seq: 2, unread: 0 }])
  // First a page of another chat holding an older message of Alice's with the same (application-chosen) id.
  const carol = uuidv4()
  const other = client.history('chat_fedcba9876543210fedcba9876543210', {})
  await tick()
  socket.receive('HISTORY', {
    chat_id: 'chat_fedcba9876543210fedcba9876543210', epoch: 'e9', first_seq: 1, last_seq: 1, has_more: false,
    messages: [{ from: alice, to: carol, content: 'old, to Carol', message_id: 'two', timestamp: '2026-12-07T17:00:00.000Z', seq: 1, status: 'received' }]
  })
  await other
  t.same(client.pending.map((m) => m.message_id), ['two'], 'the send to Bob is not settled by Carol\'s chat')
  const page = client.history(CHAT, { after_seq: 1 })
  await tick()
  socket.receive('HISTORY', {
    chat_id: CHAT, epoch: 'e1', first_seq: 1, last_seq: 2, has_more: false,
    messages: [{ from: alice, to: bob, content: 'two', message_id: 'two', timestamp: '2026-12-07T18:00:00.000Z', seq: 2, status: 'delivered' }]
  })
  t.equal((await page).messages.length, 1)
  const settled = await Promise.race([two, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 500))])
  t.match(settled, { message_id: 'two', status: 'delivered', chat_id: CHAT, seq: 2 })
  t.same(statuses.filter((s) => s.startsWith('two')), ['two pending', 'two delivered'])
})

t.test('a receipt without a chat asked for while reconnecting is sent after the next HELLO_ACK', async (t) => {
  const { client } = await aliceClient(t, { history: false })
  FakeSocket.last.drop()
  t.equal(client.confirm('m-7'), false, 'not sent now')
  while (FakeSocket.last.readyState !== 0) await tick()
  const socket = FakeSocket.last
  greet(socket)
  await tick()
  t.same(socket.sent.filter((f) => f.type === 'MSG_ACK'), [{ type: 'MSG_ACK', data: { message_id: 'm-7' } }], 'sent once identified again')
})
