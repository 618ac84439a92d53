// FastChat identity and presence over real sockets (SPEC section 3, "Identity", "Presence").
import type { Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { aliceAndBob, collect, deploy, ids, join, msg, next, openChat, presenceWhere, sleep, type Frame, type Start } from '../helpers/fastchat.ts'

export function presenceSuite(t: Test, start: Start): void {
  t.test('HELLO → HELLO_ACK, then a full PRESENCE listing self', async (t) => {
    const dep = await deploy(t, start)
    const c = await dep.connect('/ws')
    t.equal((await c.receiveJson()).type, 'WELCOME')
    const user_id = randomUUID()
    c.send({ type: 'HELLO', data: { user_id, display_name: 'Alice' } })
    t.same(await c.receiveJson(), { type: 'HELLO_ACK', data: { user_id, status: 'connected' } })
    t.same(await c.receiveJson(), { type: 'PRESENCE', data: { users: [{ user_id, display_name: 'Alice', online: true }] } })
  })

  t.test('a second user joining grows everyone\'s PRESENCE; leaving shrinks it', async (t) => {
    const { alice, bob } = await aliceAndBob(t, start)
    t.same(ids(bob.presence), ids([alice, bob].map((u) => ({ ...u, online: true }))), 'Bob\'s first list has both')
    const both = await presenceWhere(alice.client, (u) => u.length === 2)
    t.same(both.find((u) => u.user_id === bob.user_id), { user_id: bob.user_id, display_name: 'Bob', online: true })
    bob.client.close()
    const after = await presenceWhere(alice.client, (u) => u.length === 1)
    t.same(after, [{ user_id: alice.user_id, display_name: 'Alice', online: true }])
  })

  t.test('presence_delta: the full list once, then only changed entries', async (t) => {
    const dep = await deploy(t, start)
    const alice = await join(dep, 'Alice', { capabilities: ['presence_delta'] })
    t.same(alice.presence, [{ user_id: alice.user_id, display_name: 'Alice', online: true }], 'first PRESENCE is the full list')
    const bob = await join(dep, 'Bob')
    t.same(await next(alice.client, 'PRESENCE'), { type: 'PRESENCE', data: { users: [{ user_id: bob.user_id, display_name: 'Bob', online: true }] } })
    bob.client.close()
    t.same(await next(alice.client, 'PRESENCE'), { type: 'PRESENCE', data: { users: [{ user_id: bob.user_id, display_name: 'Bob', online: false }] } })
    // A full-list client on the same server still gets full lists.
    const carol = await join(dep, 'Carol')
    const dave = await join(dep, 'Dave')
    t.same(ids(await presenceWhere(carol.client, (u) => u.length === 3)), ids([alice, carol, dave].map((u) => ({ ...u, online: true }))))
    const deltas = await alice.client.receiveUntil((m: Frame) => m.type === 'PRESENCE' && m.data.users.some((u: Frame) => u.user_id === dave.user_id))
    const entries = deltas.filter((m: Frame) => m.type === 'PRESENCE').flatMap((m: Frame) => m.data.users)
    t.same(entries.sort((a: Frame, b: Frame) => (a.user_id < b.user_id ? -1 : 1)), [carol, dave]
      .map((u) => ({ user_id: u.user_id, display_name: u.display_name, online: true }))
      .sort((a, b) => (a.user_id < b.user_id ? -1 : 1)), 'the delta client gets only the two joiners')
  })

  t.test('two connections of one user: one entry, offline only after both close, both get MSGs, the other tab gets copies', async (t) => {
    const dep = await deploy(t, start)
    const alice = await join(dep, 'Alice')
    const bob1 = await join(dep, 'Bob')
    const bob2 = await join(dep, 'Bob', { user_id: bob1.user_id })
    t.same(ids(bob2.presence), ids([alice, bob1].map((u) => ({ ...u, online: true }))), 'one entry for Bob')
    t.equal(bob2.presence.length, 2)

    await openChat(alice, bob1)
    t.equal((await next(bob2.client, 'CHAT_OPENED')).data.target_user_id, alice.user_id, 'every connection of the target sees CHAT_OPENED')

    alice.client.send(msg(bob1, 'to both tabs', 'm1'))
    const [r1, r2] = await Promise.all([next(bob1.client, 'MSG'), next(bob2.client, 'MSG')])
    t.same(r1, r2, 'both of Bob\'s connections get the MSG')
    t.equal(r1.data.content, 'to both tabs')

    bob1.client.send(msg(alice, 'from tab one', 'm2'))
    t.same(await next(bob1.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'm2', status: 'delivered' } })
    const copy = await next(bob2.client, 'MSG')
    t.same({ from: copy.data.from, to: copy.data.to, content: copy.data.content, message_id: copy.data.message_id },
      { from: bob1.user_id, to: alice.user_id, content: 'from tab one', message_id: 'm2' }, 'the sender\'s other tab gets a copy')
    t.equal((await next(alice.client, 'MSG')).data.message_id, 'm2')

    bob1.client.close()
    await bob1.client.closed
    const quiet = await collect(alice.client, 300)
    t.notOk(quiet.some((m) => m.type === 'PRESENCE' && m.data.users.length < 2), 'Bob stays online while a connection is left')
    bob2.client.close()
    t.same(await presenceWhere(alice.client, (u) => u.length === 1), [{ user_id: alice.user_id, display_name: 'Alice', online: true }])
  })

  t.test('bursts are coalesced: at most one PRESENCE per PRESENCE_DEBOUNCE_MS, and the last state arrives', async (t) => {
    const debounce = 200
    const dep = await deploy(t, start, { PRESENCE_DEBOUNCE_MS: debounce })
    const watcher = await join(dep, 'Watcher')
    const arrivals: { at: number; users: number }[] = []
    // Joins spread over ~2 debounce windows, so the coalescing (not one lucky batch) is tested.
    const joined = (async () => {
      for (let i = 0; i < 12; i++) {
        await join(dep, `User ${i}`)
        await sleep(30)
      }
    })()
    const until = Date.now() + 3000
    while (Date.now() < until && arrivals.at(-1)?.users !== 13) {
      const m = await watcher.client.waitFor((f: Frame) => f.type === 'PRESENCE', { timeout: until - Date.now() })
      arrivals.push({ at: Date.now(), users: m.data.users.length })
    }
    await joined
    t.equal(arrivals.at(-1)?.users, 13, 'the last state (everyone) arrives')
    t.ok(arrivals.length < 12, `12 joins coalesced into ${arrivals.length} PRESENCE frames`)
    for (let i = 1; i < arrivals.length; i++) {
      t.ok(arrivals[i]!.at - arrivals[i - 1]!.at >= debounce - 20, `PRESENCE ${i} came ${arrivals[i]!.at - arrivals[i - 1]!.at} ms after the one before`)
    }
    await sleep(debounce + 100)
    t.same(await collect(watcher.client, 100), [], 'nothing more once the state was delivered')
  })

  t.test('display names are stripped of HTML and trimmed; a rename through a second HELLO updates presence', async (t) => {
    const dep = await deploy(t, start)
    const alice = await join(dep, '  <b>Alice</b> <script>evil()</script> ')
    t.same(alice.presence, [{ user_id: alice.user_id, display_name: 'Alice', online: true }])
    const bob = await join(dep, 'Bob')
    await join(dep, 'Alice Cooper', { user_id: alice.user_id })
    const users = await presenceWhere(bob.client, (u) => u.some((x) => x.display_name === 'Alice Cooper'))
    t.equal(users.length, 2, 'still one entry for Alice')
  })
}
