// What a history connection is sent while its greeting hands over the backlog: deliveries held
// until it ends (hub.ts) are repeats only when they are messages to this user the backlog already
// had. A receipt for one of this user's own messages carries a seq of the same log, possibly below
// the backlog's last, and must still arrive.
import t from 'tap'
import { MemoryHub } from '../../src/backplane/memory.ts'
import { MemoryHistory } from '../../src/history/memory.ts'
import type { HistoryStore } from '../../src/history/store.ts'
import { chatId } from '../../src/chat/chats.ts'
import { FakePeer, instance, openChat, sendMsg, sleep } from '../helpers/chat-fakes.ts'

t.test('a receipt for my own message that arrives while my greeting is held is not taken for a repeat of the backlog', async (t) => {
  const memory = new MemoryHistory({ maxPerChat: 1000, ttlS: 3600 })
  t.teardown(() => memory.close())
  // The backlog read waits for the test's word, as a slow store would make it wait.
  let release: () => void = () => {}
  let gate: Promise<void> = Promise.resolve()
  const store = new Proxy(memory, {
    get(target, key) {
      if (key === 'backlog') return async (user: string) => (await gate, target.backlog(user))
      const value = (target as unknown as Record<string | symbol, unknown>)[key]
      return typeof value === 'function' ? value.bind(target) : value
    }
  }) as HistoryStore
  const node = await instance(new MemoryHub(), { history: store })
  t.teardown(() => node.close())
  const alice = await node.connect('Alice', undefined, ['history'])
  const bob = await node.connect('Bob', undefined, ['history'])
  const claim = bob.peer.ofType('HELLO_ACK')[0].data.claim as string
  await openChat(node, alice, bob)
  await sendMsg(node, bob, alice, 'before you left', 'b-1') // seq 1, delivered to Alice
  await node.chat.disconnect(bob.session)
  await sendMsg(node, alice, bob, 'while you were away', 'a-2') // seq 2, stored
  await sendMsg(node, alice, bob, 'and again', 'a-3') // seq 3, stored

  gate = new Promise((resolve) => (release = resolve))
  const peer = new FakePeer()
  const session = node.chat.session(peer)
  const hello = node.chat.dispatch(session, { type: 'HELLO', data: { user_id: bob.userId, display_name: 'Bob', capabilities: ['history'], claim } })
  while (peer.ofType('CHATS').length === 0) await sleep(1) // the greeting waits on the backlog now
  // Alice reads Bob's first message meanwhile: its `received` (seq 1) is held for Bob.
  await node.chat.dispatch(alice.session, { type: 'MSG_ACK', data: { message_id: 'b-1', chat_id: chatId(alice.userId, bob.userId) } })
  await sleep(5)
  release()
  await hello
  await sleep(5)
  t.same(peer.ofType('MSG').map((m) => m.data.message_id), ['a-2', 'a-3'], 'the backlog')
  t.same(peer.ofType('MSG_ACK').map((m) => [m.data.message_id, m.data.status, m.data.seq]), [['b-1', 'received', 1]], 'and the receipt held behind it')
})
