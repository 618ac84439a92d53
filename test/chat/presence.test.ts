// Presence, without sockets: one entry per user, coalesced broadcasts built once, delta mode,
// slow readers, and several instances sharing one backplane hub.
import t from 'tap'
import { MemoryHub } from '../../src/backplane/memory.ts'
import { FakePeer, instance, sleep } from '../helpers/chat-fakes.ts'

const users = (peer: FakePeer) => peer.ofType('PRESENCE').map((m) => m.data.users)

t.test('one entry per user however many connections; offline after the last one', async (t) => {
  const node = await instance()
  t.teardown(node.close)
  const a1 = await node.connect('Alice')
  const a2 = await node.connect('Alice', a1.userId)
  t.equal(node.presence.size, 1)
  t.equal(node.presence.sessionsOf(a1.userId).size, 2)
  t.same(users(a2.peer), [[{ user_id: a1.userId, display_name: 'Alice', online: true }]])
  t.equal(await node.presence.remove(a1.session), false, 'one connection left: still online')
  t.ok(node.presence.isOnline(a1.userId))
  t.equal(await node.presence.remove(a2.session), true, 'the last connection: offline')
  t.notOk(node.presence.isOnline(a1.userId))
  t.equal(node.presence.sessionsOf(a1.userId).size, 0)
})

t.test('a burst is one PRESENCE per receiver, serialized once, the same string for everyone', async (t) => {
  const node = await instance(new MemoryHub(), { debounceMs: 30 })
  t.teardown(node.close)
  const watchers = await Promise.all(['W1', 'W2', 'W3'].map((n) => node.connect(n)))
  await sleep(60) // past every watcher's own window
  for (const w of watchers) w.peer.clear()

  const realStringify = JSON.stringify
  let serialized = 0
  JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
    const v = args[0] as { type?: string } | undefined
    if (v?.type === 'PRESENCE') serialized++
    return realStringify(...args)
  }) as typeof JSON.stringify
  t.teardown(() => { JSON.stringify = realStringify })

  const joiners = []
  for (let i = 0; i < 5; i++) joiners.push(await node.connect(`J${i}`))
  await sleep(80)
  JSON.stringify = realStringify
  const distinct = new Set([...watchers, ...joiners].flatMap((c) => c.peer.frames.filter((f) => f.startsWith('{"type":"PRESENCE"'))))
  t.equal(serialized, distinct.size, `each of the ${distinct.size} distinct PRESENCE frames was serialized once`)
  const frames = watchers.map((w) => w.peer.ofType('PRESENCE'))
  for (const f of frames) t.equal(f.length, 1, 'one PRESENCE per watcher')
  t.equal(new Set(watchers.map((w) => w.peer.frames.at(-1))).size, 1, 'identical frames')
  t.equal(frames[0]![0].data.users.length, 8, 'with everyone')
})

t.test('at most one PRESENCE per connection per debounce window, and the last state always arrives', async (t) => {
  const debounceMs = 40
  const node = await instance(new MemoryHub(), { debounceMs })
  t.teardown(node.close)
  const w = await node.connect('Watcher')
  const times: number[] = []
  const send = w.peer.sendDroppable.bind(w.peer)
  w.peer.sendDroppable = (f) => (times.push(Date.now()), send(f))
  const joined = []
  for (let i = 0; i < 10; i++) {
    joined.push(await node.connect(`U${i}`))
    await sleep(10)
  }
  await node.chat.disconnect(joined[9]!.session)
  await sleep(debounceMs * 3)
  for (let i = 1; i < times.length; i++) t.ok(times[i]! - times[i - 1]! >= debounceMs - 2, `gap ${times[i]! - times[i - 1]!} ms`)
  t.ok(times.length < 10, `${times.length} frames for 11 changes`)
  t.equal(users(w.peer).at(-1)!.length, 10, 'the final state: watcher + 9')
})

t.test('presence_delta: changed entries only, exact against what the client last saw', async (t) => {
  const node = await instance(new MemoryHub(), { debounceMs: 20 })
  t.teardown(node.close)
  const bob = await node.connect('Bob')
  const d = await node.connect('Delta', undefined, ['presence_delta'])
  t.equal(users(d.peer)[0].length, 2, 'the first PRESENCE is full')
  await sleep(40)
  d.peer.clear()
  const carol = await node.connect('Carol')
  const eve = await node.connect('Eve')
  await node.chat.disconnect(eve.session) // came and went inside one window: nothing to report
  await node.chat.disconnect(bob.session)
  await sleep(60)
  const frames = users(d.peer)
  t.equal(frames.length, 1, 'one delta for the burst')
  const byId = (a: { user_id: string }, b: { user_id: string }) => a.user_id.localeCompare(b.user_id)
  t.same(frames[0].sort(byId), [
    { user_id: carol.userId, display_name: 'Carol', online: true },
    { user_id: bob.userId, display_name: 'Bob', online: false }
  ].sort(byId), 'Carol joined, Bob left; Eve came and went and never shows')
})

t.test('a slow reader skips PRESENCE while slow and gets the latest once it reads again', async (t) => {
  const node = await instance(new MemoryHub(), { debounceMs: 10 })
  t.teardown(node.close)
  const slow = await node.connect('Slow')
  await sleep(20)
  slow.peer.clear()
  slow.peer.slow = true
  await node.connect('A')
  await node.connect('B')
  await sleep(50)
  t.same(slow.peer.frames, [], 'nothing while past the soft cap')
  slow.peer.slow = false
  await sleep(400)
  t.same(users(slow.peer).map((l) => l.length), [3], 'then one PRESENCE with the latest state')
})

t.test('instances on one hub share presence and deliveries; a closing instance takes its users offline', async (t) => {
  const hub = new MemoryHub()
  const one = await instance(hub)
  const two = await instance(hub)
  t.teardown(one.close)
  const alice = await one.connect('Alice')
  const bob = await two.connect('Bob')
  t.equal(users(bob.peer)[0].length, 2, 'Bob, on instance two, sees Alice from instance one')
  await sleep(30)
  t.equal(users(alice.peer).at(-1).length, 2, 'and Alice sees Bob')

  await one.chat.dispatch(alice.session, { type: 'OPEN_CHAT', data: { target_user_id: bob.userId } })
  t.equal(bob.peer.ofType('CHAT_OPENED').length, 1, 'CHAT_OPENED crosses instances')
  await one.chat.dispatch(alice.session, { type: 'MSG', data: { to: bob.userId, content: 'across', message_id: 'x1' } })
  t.same(alice.peer.ofType('MSG_ACK'), [{ type: 'MSG_ACK', data: { message_id: 'x1', status: 'delivered' } }])
  t.equal(bob.peer.ofType('MSG')[0].data.content, 'across')
  await two.chat.dispatch(bob.session, { type: 'MSG_ACK', data: { message_id: 'x1' } })
  t.same(alice.peer.ofType('MSG_ACK').at(-1), { type: 'MSG_ACK', data: { message_id: 'x1', status: 'received' } }, 'the receipt crosses back')

  await two.close()
  t.notOk(one.presence.isOnline(bob.userId), 'Bob left with his instance')
  await sleep(30)
  t.same(users(alice.peer).at(-1).map((u: { user_id: string }) => u.user_id), [alice.userId])
})
