// Presence and the LocalHub, without sockets: one entry per user, coalesced broadcasts built once,
// delta mode, slow readers, several instances sharing one backplane hub, and every frame's bytes.
import t from 'tap'
import { MemoryHub } from '../../src/backplane/memory.ts'
import { EntryLog, entryJson, frameOf, framePartsOf } from '../../src/chat/presence-frames.ts'
import { FULL_LIST_BYTES_PER_SEC } from '../../src/chat/presence.ts'
import { presenceFrame } from '../../src/protocol/fastchat.ts'
import type { OutText, TextParts } from '../../src/lib/text-parts.ts'
import { FakePeer, instance, sleep } from '../helpers/chat-fakes.ts'

const users = (peer: FakePeer) => peer.ofType('PRESENCE').map((m) => m.data.users)

t.test('one entry per user however many connections; offline after the last one', async (t) => {
  const node = await instance()
  t.teardown(node.close)
  const a1 = await node.connect('Alice')
  const a2 = await node.connect('Alice', a1.userId)
  t.equal(node.presence.size, 1)
  t.equal(node.hub.sessionsOf(a1.userId).size, 2)
  t.same(users(a2.peer), [[{ user_id: a1.userId, display_name: 'Alice', online: true }]])
  t.equal(await node.presence.remove(a1.session), false, 'one connection left: still online')
  t.ok(node.presence.isOnline(a1.userId))
  t.equal(await node.presence.remove(a2.session), true, 'the last connection: offline')
  t.notOk(node.presence.isOnline(a1.userId))
  t.equal(node.hub.sessionsOf(a1.userId).size, 0)
})

t.test('a burst is one PRESENCE per receiver, built once, the same string for everyone', async (t) => {
  const node = await instance(new MemoryHub(), { debounceMs: 30 })
  t.teardown(node.close)
  const watchers = await Promise.all(['W1', 'W2', 'W3'].map((n) => node.connect(n)))
  await sleep(60) // past every watcher's own window
  for (const w of watchers) w.peer.clear()

  // Every PRESENCE frame is made in one place, which counts them: a frame rebuilt for each
  // receiver would count once per receiver, more than the distinct frames sent.
  const builtBefore = node.presence.framesBuilt
  const joiners = []
  for (let i = 0; i < 5; i++) joiners.push(await node.connect(`J${i}`))
  await sleep(80)
  const built = node.presence.framesBuilt - builtBefore
  const distinct = new Set([...watchers, ...joiners].flatMap((c) => c.peer.frames.filter((f) => f.startsWith('{"type":"PRESENCE"'))))
  t.equal(built, distinct.size, `each of the ${distinct.size} distinct PRESENCE frames was built once`)
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

t.test('full lists slow down as they grow (FULL_LIST_BYTES_PER_SEC); delta connections keep the debounce; the last state arrives', async (t) => {
  const debounceMs = 20
  const node = await instance(new MemoryHub(), { debounceMs })
  t.teardown(node.close)
  // ~60 KB of list: long names make a big list from a few users.
  const name = (i: number) => `U${i} ${'x'.repeat(45)}`
  for (let i = 0; i < 600; i++) await node.connect(name(i))
  const full = await node.connect('Full watcher')
  const delta = await node.connect('Delta watcher', undefined, ['presence_delta'])
  const sent = { full: [] as number[], delta: [] as number[] }
  for (const [kind, peer] of [['full', full.peer], ['delta', delta.peer]] as const) {
    const send = peer.sendDroppable.bind(peer)
    peer.sendDroppable = (f) => (sent[kind].push(Date.now()), send(f))
  }
  const listBytes = full.peer.frames.at(-1)!.length
  const window = (listBytes * 1000) / FULL_LIST_BYTES_PER_SEC
  t.ok(window > debounceMs * 3, `a ${listBytes}-byte list: ${window.toFixed(0)} ms between lists`)
  for (let i = 0; i < 15; i++) {
    await node.connect(`Late ${i}`)
    await sleep(10)
  }
  await sleep(window * 2)
  const gaps = (xs: number[]) => xs.slice(1).map((x, i) => x - xs[i]!)
  t.ok(gaps(sent.full).every((g) => g >= window - 2), `full: gaps ${gaps(sent.full).join(', ')} ms`)
  t.ok(sent.delta.length > sent.full.length, `delta connections are not slowed: ${sent.delta.length} frames against ${sent.full.length}`)
  t.equal(users(full.peer).at(-1)!.length, 617, 'the last state arrived in full')
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

t.test('frames of entries serialized once are byte for byte presenceFrame()', async (t) => {
  const names = ['Alice', 'quote " and \\ backslash', 'é 😀 \u2028\u2029', 'lone \ud800 surrogate', '\u0000\u001f\u007f', '</script>', '']
  const entries = names.map((display_name, i) => ({ user_id: `id-${i}`, display_name, online: i % 2 === 0 }))
  const body = entries.map((e) => entryJson(e.user_id, e.display_name, e.online)).join(',')
  t.equal(frameOf(body), presenceFrame(entries))
  t.equal(frameOf(''), presenceFrame([]), 'an empty list')
})

t.test('an entry log hands out list bodies as slices that never change', async (t) => {
  const log = new EntryLog()
  const names = ['Alice', 'quote " and \\ backslash', 'é 😀 \u2028', '</script>']
  const entries: { user_id: string; display_name: string; online: boolean }[] = []
  const at: number[] = []
  const handedOut: { frame: TextParts; text: string }[] = []
  const hand = (from: number) => {
    const frame = framePartsOf(log.bodyFrom(at[from]!))
    t.equal(frame.byteLength, Buffer.byteLength(presenceFrame(entries.slice(from))), 'byteLength counts every piece')
    handedOut.push({ frame, text: presenceFrame(entries.slice(from)) })
    return frame
  }
  // Past the first buffer's 16 KiB several times over, so bodies are handed out across growths.
  for (let i = 0; i < 2000; i++) {
    const e = { user_id: `id-${i}`, display_name: `${names[i % names.length]} ${i}`, online: i % 3 !== 0 }
    entries.push(e)
    at.push(log.append(entryJson(e.user_id, e.display_name, e.online)))
    if (i % 97 === 0) t.equal(String(hand(0)), presenceFrame(entries), `the whole list at ${i + 1}`)
    if (i % 89 === 5) t.equal(String(hand(i - 5)), presenceFrame(entries.slice(i - 5)), `the last six at ${i + 1}`)
  }
  t.equal(String(framePartsOf(log.body())), presenceFrame(entries), 'body() is every entry')
  // Only the entries from 1500 on are kept: enough appends after that to grow the buffer twice
  // more (the 2,000 entries fill ~144 KB of 264 KB), each growth copying the kept entries alone
  // and moving where positions count from.
  log.dropBefore(at[1500]!)
  t.throws(() => log.bodyFrom(at[1499]!), RangeError, 'a dropped position is refused, not read as an index from the end')
  for (let i = 2000; i < 12_000; i++) {
    const e = { user_id: `id-${i}`, display_name: `late ${i} ${'😀'.repeat(i % 5)}`, online: true }
    entries.push(e)
    at.push(log.append(entryJson(e.user_id, e.display_name, e.online)))
    if (i % 1999 === 0) t.equal(String(hand(1500)), presenceFrame(entries.slice(1500)), `after dropping the first 1,500, at ${i + 1}: the rest, whole`)
  }
  t.equal(String(hand(1500)), presenceFrame(entries.slice(1500)), 'after dropping the first 1,500: the rest, whole')
  t.equal(String(hand(11_999)), presenceFrame(entries.slice(11_999)), 'the newest alone')
  // Everything dropped: a new buffer, positions from 0, and the next entry a list of its own.
  log.dropBefore(log.end)
  t.equal(log.end, 0, 'dropping every entry starts the log again')
  for (let i = 0; i < 500; i++) {
    const e = { user_id: `again-${i}`, display_name: `again ${i}`, online: i % 2 === 0 }
    entries.push(e)
    at.push(log.append(entryJson(e.user_id, e.display_name, e.online)))
  }
  t.equal(at[12_000], 0, 'the first entry after it is at 0')
  t.equal(String(hand(12_000)), presenceFrame(entries.slice(12_000)), 'a log whose entries were all dropped, grown again')
  t.equal(String(hand(12_499)), presenceFrame(entries.slice(12_499)), 'its newest alone')
  log.clear()
  t.equal(String(framePartsOf(log.body())), presenceFrame([]), 'cleared: an empty list')
  t.equal(log.append(entryJson('id-y', 'fresh', true)), 0, 'cleared: positions start again')
  t.equal(String(framePartsOf(log.body())), presenceFrame([{ user_id: 'id-y', display_name: 'fresh', online: true }]))
  // Read now, not when handed out: the slices are views of the log's buffers, not copies.
  t.same(handedOut.filter((h) => Buffer.concat(h.frame.parts as Buffer[]).toString() !== h.text).length, 0, `all ${handedOut.length} bodies handed out are unchanged after later appends, growths, drops and the clear`)
})

/** mulberry32: a seeded generator, so a failing sequence can be replayed from its seed. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

// Every frame is checked against the canonical builder (presenceFrame of entry objects) and a
// model of the protocol: a delta lists, in the order of their first change since the
// receiver's last PRESENCE, the users whose state differs from then. Joins alone, then joins,
// renames, leaves and returns; readers go slow and come back (older baselines).
t.test('randomized: deltas and full lists are exactly the model\'s, with lagging readers', async (t) => {
  const seed = Number(process.env.PRESENCE_SEED ?? Date.now() % 1_000_000)
  t.comment(`seed ${seed} (PRESENCE_SEED=${seed} replays it)`)
  const random = seeded(seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!
  const node = await instance(new MemoryHub(), { debounceMs: 4 })
  t.teardown(node.close)

  type State = Map<string, string> // user_id → display_name, in list order
  const truth: State = new Map()
  /** Every effective change: whose, and the state after it. */
  const log: { id: string; state: State }[] = []
  type Watcher = Awaited<ReturnType<typeof node.connect>> & { delta: boolean; seenAt: number }
  const watchers: Watcher[] = []
  for (let i = 0; i < 6; i++) {
    const w = await node.connect(`Watcher ${i}`, undefined, i < 4 ? ['presence_delta'] : undefined)
    truth.set(w.userId, `Watcher ${i}`)
    watchers.push({ ...w, delta: i < 4, seenAt: 0 })
  }
  await sleep(30)
  log.push({ id: '', state: new Map(truth) })
  const mismatches: string[] = []
  const checked = { delta: 0, full: 0 }
  for (const w of watchers) {
    const send = w.peer.sendDroppable.bind(w.peer)
    w.peer.sendDroppable = (sent: OutText) => {
      if (!send(sent)) return false
      const frame = String(sent)
      const now = log.length - 1
      const expected = w.delta ? expectedDelta(w.seenAt, now) : fullOf(log[now]!.state)
      if (frame !== expected) mismatches.push(`${w.delta ? 'delta' : 'full'} from ${w.seenAt} to ${now}:\n  got  ${frame}\n  want ${expected}`)
      checked[w.delta ? 'delta' : 'full']++
      w.seenAt = now
      return true
    }
  }

  const entry = (user_id: string, state: State, online: boolean, name = state.get(user_id)!) => ({ user_id, display_name: name, online })
  const fullOf = (state: State) => presenceFrame([...state.keys()].map((id) => entry(id, state, true)))
  function expectedDelta(i: number, j: number): string {
    const order = new Set(log.slice(i + 1, j + 1).map((c) => c.id))
    const from = log[i]!.state
    const to = log[j]!.state
    const users = [...order].filter((id) => from.get(id) !== to.get(id))
      .map((id) => (to.has(id) ? entry(id, to, true) : entry(id, from, false)))
    return presenceFrame(users)
  }

  const names = ['Ann', 'Bo "B"', 'Cy\\C', 'Dé 😀', 'Ed\u2028', 'Flo']
  const gone: string[] = []
  let users = 0
  const change = (user_id: string, display_name: string, online: boolean) => {
    node.presence.presence({ user_id, display_name, online })
    const before = truth.get(user_id)
    if (online) truth.set(user_id, display_name)
    else truth.delete(user_id)
    if (before !== truth.get(user_id)) log.push({ id: user_id, state: new Map(truth) })
  }
  for (let step = 0; step < 300; step++) {
    const remote = [...truth.keys()].filter((id) => !watchers.some((w) => w.userId === id))
    const r = random()
    if (step < 100 || r < 0.45 || remote.length === 0) {
      change(`remote-${users++}`, pick(names), true)
    } else if (r < 0.65) {
      change(pick(remote), pick(names), true) // a rename, or the same name: no change
    } else if (r < 0.85 || gone.length === 0) {
      const id = pick(remote)
      change(id, truth.get(id)!, false)
      gone.push(id)
    } else {
      change(pick(gone), pick(names), true) // back, under the same name or another
    }
    if (random() < 0.1) {
      const w = pick(watchers)
      w.peer.slow = !w.peer.slow
    }
    if (random() < 0.5) await sleep(Math.floor(random() * 8))
    // Every 4th step outlasts the debounce, so every reader that is not slow gets a frame: the
    // count of frames checked must not depend on how busy the machine is (a loaded CI machine
    // stretched the short sleeps until changes coalesced into fewer frames than the floor).
    if (step % 4 === 3) await sleep(6)
  }
  for (const w of watchers) w.peer.slow = false
  // Dropped frames are retried 250 ms later at the earliest.
  for (let waited = 0; waited < 5000 && watchers.some((w) => w.seenAt < log.length - 1); waited += 50) await sleep(50)
  t.ok(checked.delta > 100 && checked.full > 40, `${checked.delta} deltas and ${checked.full} full lists checked`)
  t.same(mismatches, [], 'every frame as the model says')
  for (const w of watchers) t.equal(w.seenAt, log.length - 1, `${w.delta ? 'delta' : 'full'} watcher caught up`)
})
