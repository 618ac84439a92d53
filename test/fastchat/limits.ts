// FastChat per-user rate limits over real sockets (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN).
import type { Test } from 'tap'
import { aliceAndBob, collect, deploy, join, msg, next, openChat, type Frame, type Start } from '../helpers/fastchat.ts'

export function limitsSuite(t: Test, start: Start): void {
  t.test('MSG 1–60 pass; the 61st is RATE_LIMITED with retry_after_ms, neither delivered nor acked', async (t) => {
    const { alice, bob } = await aliceAndBob(t, start, { chat: true })
    for (let i = 1; i <= 61; i++) alice.client.send(msg(bob, `n${i}`, `r-${i}`))
    const replies = await alice.client.receiveUntil((m: Frame) => m.data?.details?.message_id === 'r-61', { timeout: 5000 })
    const acks = replies.filter((m: Frame) => m.type === 'MSG_ACK')
    t.same(acks.map((m: Frame) => m.data.message_id), Array.from({ length: 60 }, (_, i) => `r-${i + 1}`), '60 acknowledged')
    const limited = replies.at(-1)
    t.equal(limited.type, 'ERROR')
    t.equal(limited.data.code, 'RATE_LIMITED')
    t.same(Object.keys(limited.data.details).sort(), ['message_id', 'retry_after_ms'])
    t.ok(limited.data.details.retry_after_ms > 0 && limited.data.details.retry_after_ms <= 60_000, `retry_after_ms ${limited.data.details.retry_after_ms}`)
    const delivered = await bob.client.receiveUntil((m: Frame) => m.type === 'MSG' && m.data.message_id === 'r-60', { timeout: 5000 })
    t.equal(delivered.filter((m: Frame) => m.type === 'MSG').length, 60)
    t.same((await collect(bob.client, 300)).filter((m: Frame) => m.type === 'MSG'), [], 'the 61st is not delivered')
    t.same((await collect(alice.client, 100)).filter((m: Frame) => m.type === 'MSG_ACK'), [], 'nor acknowledged')

    // Typing has its own budget: 60 MSG still leave 10 TYPING, and the 11th is limited.
    for (let i = 0; i < 11; i++) alice.client.send({ type: 'TYPING', data: { is_typing: i % 2 === 0, to: bob.user_id } })
    const typing = await bob.client.receiveUntil((m: Frame) => m.type === 'TYPING' && m.data.is_typing === true, { timeout: 3000 })
    t.ok(typing.length >= 1)
    const err = await next(alice.client, 'ERROR')
    t.equal(err.data.code, 'RATE_LIMITED', 'the 11th TYPING is limited')
    t.ok(err.data.details.retry_after_ms > 0)
    const relayed = [...typing, ...(await collect(bob.client, 300))].filter((m: Frame) => m.type === 'TYPING')
    t.equal(relayed.length, 10, '10 TYPING relayed')
  })

  t.test('limits are per user: reconnecting does not reset them, other users are not affected', async (t) => {
    const dep = await deploy(t, start, { CHAT_MSG_PER_MIN: 5, CHAT_TYPING_PER_MIN: 2 })
    let alice = await join(dep, 'Alice')
    const bob = await join(dep, 'Bob')
    const carol = await join(dep, 'Carol')
    await openChat(alice, bob)
    await openChat(carol, bob)
    for (let i = 0; i < 5; i++) alice.client.send(msg(bob, `m${i}`, `a-${i}`))
    await alice.client.receiveUntil((m: Frame) => m.type === 'MSG_ACK' && m.data.message_id === 'a-4', { timeout: 3000 })
    alice.client.send({ type: 'TYPING', data: { is_typing: true } })
    alice.client.send({ type: 'TYPING', data: { is_typing: false } })
    // The third proves the first two were counted before the reconnect. Without waiting for it,
    // the new connection (on the other instance) could reach Redis before the old one's
    // fire-and-forget TYPINGs had: a race between instances, not a reset.
    alice.client.send({ type: 'TYPING', data: { is_typing: true } })
    t.equal((await next(alice.client, 'ERROR')).data.code, 'RATE_LIMITED', 'the third TYPING is limited')
    alice.client.close()
    await alice.client.closed

    alice = await join(dep, 'Alice', { user_id: alice.user_id })
    alice.client.send(msg(bob, 'after reconnect', 'a-5'))
    const e = await next(alice.client, 'ERROR')
    t.equal(e.data.code, 'RATE_LIMITED', 'MSG still limited after reconnecting')
    alice.client.send({ type: 'TYPING', data: { is_typing: true } })
    t.equal((await next(alice.client, 'ERROR')).data.code, 'RATE_LIMITED', 'TYPING still limited after reconnecting')

    carol.client.send(msg(bob, 'carol is fine', 'c-1'))
    t.same(await next(carol.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'c-1', status: 'delivered' } }, 'another user is unaffected')
    // HELLO, OPEN_CHAT and PING are never limited by these.
    alice.client.send({ type: 'OPEN_CHAT', data: { target_user_id: bob.user_id, target_display_name: 'Bob' } })
    t.equal((await next(alice.client, 'CHAT_OPENED')).data.target_user_id, bob.user_id)
    for (let i = 0; i < 20; i++) alice.client.send({ type: 'PING', data: {} })
    const pongs = await alice.client.receiveUntil((() => {
      let n = 0
      return (m: Frame) => m.type === 'PONG' && ++n === 20
    })(), { timeout: 3000 })
    t.equal(pongs.filter((m: Frame) => m.type === 'PONG').length, 20)
  })
}
