// FastChat chats, messages, receipts and typing over real sockets (SPEC section 3).
import type { Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { aliceAndBob, collect, deploy, ISO, join, msg, next, openChat, presenceWhere, type Frame, type Start } from '../helpers/fastchat.ts'

const error = (code: string, message: string, details: Record<string, unknown> = {}) => ({ type: 'ERROR', data: { code, message, details } })

export function chatSuite(t: Test, start: Start): void {
  t.test('OPEN_CHAT: both sides get CHAT_OPENED with one chat_id and the other party as target', async (t) => {
    const { alice, bob } = await aliceAndBob(t, start)
    alice.client.send({ type: 'OPEN_CHAT', data: { target_user_id: bob.user_id, target_display_name: 'Bob' } })
    const [a, b] = await Promise.all([next(alice.client, 'CHAT_OPENED'), next(bob.client, 'CHAT_OPENED')])
    const participants = [alice.user_id, bob.user_id].sort()
    t.match(a.data.chat_id, /^chat_[0-9a-f]{32}$/)
    t.same(a, { type: 'CHAT_OPENED', data: { chat_id: a.data.chat_id, participants, target_user_id: bob.user_id, target_display_name: 'Bob' } })
    t.same(b, { type: 'CHAT_OPENED', data: { chat_id: a.data.chat_id, participants, target_user_id: alice.user_id, target_display_name: 'Alice' } })

    // Opening it again, from the other side: same chat_id, only the opener hears about it.
    bob.client.send({ type: 'OPEN_CHAT', data: { target_user_id: alice.user_id, target_display_name: 'Alice' } })
    const again = await next(bob.client, 'CHAT_OPENED')
    t.same(again, b, 'the same chat whoever opens it')
    t.same((await collect(alice.client, 200)).filter((m: Frame) => m.type === 'CHAT_OPENED'), [], 're-opening does not notify the other side')
  })

  t.test('OPEN_CHAT errors: unknown or offline target, self, before HELLO', async (t) => {
    const dep = await deploy(t, start)
    const alice = await join(dep, 'Alice')
    const ghost = randomUUID()
    alice.client.send({ type: 'OPEN_CHAT', data: { target_user_id: ghost, target_display_name: 'Ghost' } })
    t.same(await alice.client.receiveJson(), error('USER_NOT_FOUND', 'user is not online', { target_user_id: ghost }))

    const bob = await join(dep, 'Bob')
    bob.client.close()
    await presenceWhere(alice.client, (u) => u.length === 1)
    alice.client.send({ type: 'OPEN_CHAT', data: { target_user_id: bob.user_id, target_display_name: 'Bob' } })
    t.same(await next(alice.client, 'ERROR'), error('USER_NOT_FOUND', 'user is not online', { target_user_id: bob.user_id }), 'offline target')

    alice.client.send({ type: 'OPEN_CHAT', data: { target_user_id: alice.user_id, target_display_name: 'Alice' } })
    const self = await next(alice.client, 'ERROR')
    t.equal(self.data.code, 'VALIDATION')
    t.same(self.data.details.errors, [{ path: '/data/target_user_id', message: 'cannot open a chat with yourself' }])

    const stranger = await dep.connect('/ws')
    await stranger.receiveJson() // WELCOME
    for (const m of [
      { type: 'OPEN_CHAT', data: { target_user_id: alice.user_id, target_display_name: 'Alice' } },
      { type: 'MSG', data: { to: alice.user_id, content: 'hi' } },
      { type: 'MSG_ACK', data: { message_id: 'x' } },
      { type: 'TYPING', data: { is_typing: true } },
      { type: 'OPEN_CHAT', data: 'malformed' }
    ]) {
      stranger.send(m)
      t.same(await stranger.receiveJson(), error('UNAUTHORIZED', 'send HELLO first'), `${m.type} before HELLO`)
    }
    stranger.send({ type: 'PING', data: {} })
    const pong = await stranger.receiveJson()
    t.same(Object.keys(pong.data), ['timestamp'])
    t.equal(pong.type, 'PONG', 'PING is answered before HELLO')
    t.match(pong.data.timestamp, ISO)
    t.ok(stranger.isOpen, 'errors never close the connection')
  })

  t.test('MSG: delivered ack, the exact MSG to the recipient, content rules', async (t) => {
    const { alice, bob } = await aliceAndBob(t, start, { chat: true })

    alice.client.send(msg(bob, 'hello bob', 'm-1'))
    t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'delivered' } })
    const got = await next(bob.client, 'MSG')
    t.same(Object.keys(got.data), ['from', 'to', 'content', 'message_id', 'timestamp'])
    t.same(got, { type: 'MSG', data: { from: alice.user_id, to: bob.user_id, content: 'hello bob', message_id: 'm-1', timestamp: got.data.timestamp } })
    t.match(got.data.timestamp, ISO)
    t.ok(Math.abs(Date.parse(got.data.timestamp) - Date.now()) < 5000)

    alice.client.send(msg(bob, 'no id given'))
    const ack = await next(alice.client, 'MSG_ACK')
    t.match(ack.data.message_id, /^[0-9a-f-]{36}$/, 'message_id defaults to a server UUID')
    t.equal((await next(bob.client, 'MSG')).data.message_id, ack.data.message_id)

    const accepted: [string, string][] = [
      ['x'.repeat(1000), 'x'.repeat(1000)],
      ['😀'.repeat(1000), '😀'.repeat(1000)],
      ['<script>x</script>hi', 'hi'],
      ['a < b and c > d', 'a < b and c > d'],
      ['<b>bold</b> &amp; <i>more</i>', 'bold &amp; more'],
      ['<style>p{color:red}</style><p>styled</p>', 'styled']
    ]
    for (const [i, [content, expected]] of accepted.entries()) {
      alice.client.send(msg(bob, content, `ok-${i}`))
      t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: `ok-${i}`, status: 'delivered' } })
      t.equal((await next(bob.client, 'MSG')).data.content, expected, `${JSON.stringify(content.slice(0, 30))} arrives as ${JSON.stringify(expected.slice(0, 30))}`)
    }

    for (const [i, content] of ['x'.repeat(1001), '', '<b></b>', '   ', '<script>only script</script>'].entries()) {
      alice.client.send(msg(bob, content, `bad-${i}`))
      const e = await next(alice.client, 'ERROR')
      t.equal(e.data.code, 'VALIDATION', `${JSON.stringify(content.slice(0, 20))} is refused`)
      t.equal(e.data.details.message_id, `bad-${i}`)
      t.equal(e.data.details.errors[0].path, '/data/content')
    }
    t.same((await collect(bob.client, 200)).filter((m: Frame) => m.type === 'MSG'), [], 'refused messages are not delivered')
  })

  t.test('MSG errors: no chat, offline recipient, self, malformed', async (t) => {
    const { alice, bob } = await aliceAndBob(t, start)
    alice.client.send(msg(bob, 'hi', 'n1'))
    t.same(await next(alice.client, 'ERROR'), error('CHAT_NOT_OPENED', 'open a chat with this user first', { message_id: 'n1' }))
    t.same((await collect(bob.client, 200)).filter((m: Frame) => m.type === 'MSG'), [], 'not delivered')

    const ghost = randomUUID()
    alice.client.send({ type: 'MSG', data: { to: ghost, content: 'hi', message_id: 'n2' } })
    t.same(await next(alice.client, 'ERROR'), error('USER_NOT_FOUND', 'user is not online', { message_id: 'n2' }))

    alice.client.send({ type: 'MSG', data: { to: alice.user_id, content: 'me', message_id: 'n3' } })
    t.equal((await next(alice.client, 'ERROR')).data.code, 'VALIDATION', 'MSG to self')

    alice.client.send({ type: 'MSG', data: { to: bob.user_id, content: 5 } })
    const e = await next(alice.client, 'ERROR')
    t.equal(e.data.code, 'VALIDATION')
    t.same(e.data.details.errors, [{ path: '/data/content', message: 'Expected string' }])
  })

  t.test('MSG: a repeated message_id is delivered once and acknowledged twice', async (t) => {
    const { alice, bob } = await aliceAndBob(t, start, { chat: true })
    alice.client.send(msg(bob, 'once', 'dup'))
    alice.client.send(msg(bob, 'once', 'dup'))
    const acks = (await collect(alice.client, 400)).filter((m: Frame) => m.type === 'MSG_ACK')
    t.same(acks, [1, 2].map(() => ({ type: 'MSG_ACK', data: { message_id: 'dup', status: 'delivered' } })), 'acknowledged twice')
    t.equal((await collect(bob.client, 100)).filter((m: Frame) => m.type === 'MSG').length, 1, 'delivered once')
    // message_id is per sender: Bob may use the same one.
    bob.client.send(msg(alice, 'mine', 'dup'))
    t.same(await next(bob.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'dup', status: 'delivered' } })
    t.equal((await next(alice.client, 'MSG')).data.content, 'mine')
  })

  t.test('100 rapid MSGs arrive in order; the recipient\'s MSG_ACK reaches the sender as received', async (t) => {
    const { dep, alice, bob } = await aliceAndBob(t, start, { env: { CHAT_MSG_PER_MIN: 1000 }, chat: true })
    for (let i = 0; i < 100; i++) alice.client.send(msg(bob, `message ${i}`, `o-${i}`))
    const received = await bob.client.receiveUntil((m: Frame) => m.type === 'MSG' && m.data.message_id === 'o-99', { timeout: 10_000 })
    t.same(received.filter((m: Frame) => m.type === 'MSG').map((m: Frame) => m.data.content), Array.from({ length: 100 }, (_, i) => `message ${i}`))
    const acks = await alice.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id === 'o-99', { timeout: 10_000 })
    t.same(acks.filter((m: Frame) => m.type === 'MSG_ACK').map((m: Frame) => m.data.message_id), Array.from({ length: 100 }, (_, i) => `o-${i}`), 'acks in order too')

    bob.client.send({ type: 'MSG_ACK', data: { message_id: 'o-42' } })
    t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'o-42', status: 'received' } })
    // Only the recipient can confirm, and only once.
    const carol = await join(dep, 'Carol')
    carol.client.send({ type: 'MSG_ACK', data: { message_id: 'o-43' } })
    bob.client.send({ type: 'MSG_ACK', data: { message_id: 'o-42', status: 'received' } })
    t.same((await collect(alice.client, 300)).filter((m: Frame) => m.type === 'MSG_ACK'), [], 'no receipt from a stranger or a second time')
  })

  t.test('TYPING: relayed to the chat partner, CHAT_NOT_OPENED without a chat, is_typing:false when the typist leaves', async (t) => {
    const { dep, alice, bob } = await aliceAndBob(t, start)
    const carol = await join(dep, 'Carol')
    alice.client.send({ type: 'TYPING', data: { is_typing: true, to: bob.user_id } })
    t.same(await next(alice.client, 'ERROR'), error('CHAT_NOT_OPENED', 'open a chat with this user first', { to: bob.user_id }))

    await openChat(alice, bob)
    await openChat(alice, carol)
    alice.client.send({ type: 'TYPING', data: { is_typing: true, to: bob.user_id } })
    t.same(await next(bob.client, 'TYPING'), { type: 'TYPING', data: { user_id: alice.user_id, is_typing: true } })
    t.same((await collect(carol.client, 200)).filter((m: Frame) => m.type === 'TYPING'), [], 'only the named user')

    alice.client.send({ type: 'TYPING', data: { is_typing: true } })
    const [tb, tc] = await Promise.all([next(bob.client, 'TYPING'), next(carol.client, 'TYPING')])
    t.same([tb, tc], [tb, { type: 'TYPING', data: { user_id: alice.user_id, is_typing: true } }], 'without `to`: every open chat')

    bob.client.send({ type: 'TYPING', data: { is_typing: true, to: alice.user_id } })
    t.same(await next(alice.client, 'TYPING'), { type: 'TYPING', data: { user_id: bob.user_id, is_typing: true } })

    alice.client.close()
    t.same(await next(bob.client, 'TYPING'), { type: 'TYPING', data: { user_id: alice.user_id, is_typing: false } }, 'Bob sees Alice stop')
    t.same(await next(carol.client, 'TYPING'), { type: 'TYPING', data: { user_id: alice.user_id, is_typing: false } }, 'Carol sees Alice stop')
  })
}
