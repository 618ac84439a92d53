// Abuse on /ws over real sockets: a frame flood past the per-connection budget, and a reader
// that stops reading while a peer keeps sending (SPEC section 3, issue 3's limits).
import type { Test } from 'tap'
import type { Socket } from 'node:net'
import type { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { aliceAndBob, deploy, ids, join, msg, next, openChat, presenceWhere, type Frame, type Start } from '../helpers/fastchat.ts'
import { waitUntil } from '../helpers/walkers.ts'

/** The client's TCP socket: pausing it stops reading, so the server's send buffer fills. */
const tcp = (c: WsTestClient): Socket => (c.ws as unknown as { _socket: Socket })._socket

export function abuseSuite(t: Test, start: Start): void {
  t.test('a frame flood past WS_FRAMES_PER_SEC/WS_FRAME_BURST closes with 1008; other users are unaffected', async (t) => {
    const { dep, alice, bob } = await aliceAndBob(t, start, { env: { WS_FRAMES_PER_SEC: 20, WS_FRAME_BURST: 40 } })
    const flooder = await join(dep, 'Flooder')
    await openChat(alice, bob)
    for (let i = 0; i < 500; i++) flooder.client.send({ type: 'PING', data: {} })
    const info = await flooder.client.expectClose(1008, { timeout: 5000 })
    t.equal(info.reason, 'frame rate limit exceeded')

    const left = await presenceWhere(alice.client, (u) => u.length === 2, 5000)
    t.same(ids(left), [alice.user_id, bob.user_id].sort(), 'the flooder left presence')
    alice.client.send(msg(bob, 'still here', 'f-1'))
    t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'f-1', status: 'delivered' } })
    t.equal((await next(bob.client, 'MSG')).data.content, 'still here')
    bob.client.send({ type: 'PING', data: {} })
    t.equal((await next(bob.client, 'PONG')).type, 'PONG')

    // A sustained rate inside the budget is fine.
    for (let i = 0; i < 10; i++) {
      alice.client.send({ type: 'PING', data: {} })
      await next(alice.client, 'PONG')
      await new Promise((r) => setTimeout(r, 60))
    }
    t.ok(alice.client.isOpen, 'a client inside the budget stays open')
  })

  t.test('a reader that stops reading is terminated; the sender gets MESSAGE_FAILED, never a false ack; memory stays bounded', async (t) => {
    const dep = await deploy(t, start, {
      CHAT_MSG_PER_MIN: 1_000_000,
      WS_FRAMES_PER_SEC: 1_000_000,
      WS_FRAME_BURST: 1_000_000,
      // Small caps: the kernel's socket buffers absorb a few MB before the server buffers
      // anything, and 5,000 × 1 KB must overflow what is left.
      WS_SEND_SOFT_CAP: 16 * 1024,
      WS_SEND_HARD_CAP: 128 * 1024
    })
    const sender = await join(dep, 'Sender')
    const reader = await join(dep, 'Reader')
    await openChat(sender, reader)
    tcp(reader.client).pause()

    const rssBefore = dep.serverRss?.()
    let rssPeak = rssBefore ?? 0
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, dep.serverRss?.() ?? 0)), 20)
    t.teardown(() => clearInterval(sampler))

    const count = 5000
    const content = 'x'.repeat(1000)
    // Every message gets exactly one answer: delivered, or an error naming it.
    const answers = new Map<string, Frame>()
    // Sent with at most 2,000 unanswered: over Redis each MSG waits for round trips, and more
    // than 4 MiB of frames waiting on the sender's connection would close it (1008).
    const sending = (async () => {
      for (let i = 0; i < count; i++) {
        if (i - answers.size >= 2000) await waitUntil(() => i - answers.size < 1000, 'the sender\'s answers to catch up', 30_000)
        sender.client.send(msg(reader, content, `s-${i}`))
      }
    })()
    let readerLeft = false
    await sender.client.receiveUntil((m: Frame) => {
      if (m.type === 'PRESENCE' && !m.data.users.some((u: Frame) => u.user_id === reader.user_id)) readerLeft = true
      const id = m.type === 'MSG_ACK' ? m.data.message_id : m.type === 'ERROR' ? m.data.details.message_id : undefined
      if (id !== undefined) {
        if (answers.has(id)) throw new Error(`${id} answered twice: ${JSON.stringify(answers.get(id))} and ${JSON.stringify(m)}`)
        answers.set(id, m)
      }
      return answers.size === count
    }, { timeout: 60_000 })
    await sending
    clearInterval(sampler)

    const delivered = [...answers.values()].filter((m) => m.type === 'MSG_ACK').length
    const failed = [...answers.values()].filter((m) => m.data.code === 'MESSAGE_FAILED')
    const notFound = [...answers.values()].filter((m) => m.data.code === 'USER_NOT_FOUND')
    t.ok(failed.length >= 1, `MESSAGE_FAILED for ${failed.length} message(s) once the reader could not take more`)
    t.same(failed[0].data, { code: 'MESSAGE_FAILED', message: 'the message could not be handed to the recipient', details: { message_id: failed[0].data.details.message_id } })
    t.equal(delivered + failed.length + notFound.length, count, `${delivered} delivered, ${failed.length} failed, ${notFound.length} to an offline user`)
    t.ok(delivered < count, 'not every message was acknowledged as delivered')
    // Acks are in order: once one failed, nothing later was acknowledged as delivered.
    const firstFailure = Math.min(...failed.map((m) => Number(m.data.details.message_id.slice(2))))
    t.notOk([...answers].some(([id, m]) => m.type === 'MSG_ACK' && Number(id.slice(2)) > firstFailure), 'no ack after the first failure')

    if (!readerLeft) await presenceWhere(sender.client, (u) => !u.some((x) => x.user_id === reader.user_id), 5000)
    t.pass('the terminated reader dropped out of presence')
    tcp(reader.client).resume()
    const closed = await reader.client.expectClose(undefined, { timeout: 5000 })
    t.not(closed.code, 1000, `the reader's connection was cut (${closed.code})`)

    if (rssBefore !== undefined) {
      const growthMb = (rssPeak - rssBefore) / 1024 / 1024
      t.ok(growthMb < 256, `server RSS grew by ${growthMb.toFixed(1)} MB at most (cap 256 MB)`)
    }
    sender.client.send({ type: 'PING', data: {} })
    t.equal((await next(sender.client, 'PONG')).type, 'PONG', 'the sender is still served')
  })
}
