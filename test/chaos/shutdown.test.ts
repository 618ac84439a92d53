// Shutdown under load, on the real process: SIGTERM while 200 FastChat clients send MSGs. New
// upgrades are refused (503), work in flight finishes, every MSG the server took in before its
// close frame is answered (MSG_ACK or ERROR, never silence), every client is closed with 1001,
// and the process exits 0 within SHUTDOWN_GRACE_MS. A MSG that was still on the wire when the
// server's close frame left cannot be answered (RFC 6455: nothing follows a close frame); such a
// message is never delivered either, so a client that resends every unanswered MSG (same
// message_id, deduplicated) after reconnecting loses nothing and duplicates nothing.
import t, { type Test } from 'tap'
import { startServer } from '../helpers/process.ts'
import { startApp } from '../helpers/app.ts'
import { fixtureDir } from '../helpers/walkers.ts'
import { join, openChat, type ChatUser, type Deployment, type Frame } from '../helpers/fastchat.ts'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { intercept } from './harness.ts'

const CLIENTS = 200
const GRACE_MS = 8000
const SEND_EVERY_MS = 50

interface Sender {
  user: ChatUser
  partner: ChatUser
  sent: string[]
  answers: Map<string, Frame>
  received: string[]
  closed?: { code: number; reason: string }
}

t.test(`SIGTERM while ${CLIENTS} clients send MSGs: 503 for upgrades, every taken MSG answered, 1001 for all, exit 0 within the grace`, async (t) => {
  // The fixture walkers include Slow: one execution in flight holds the drain open long enough
  // to watch upgrades being refused during it.
  const server = await startServer({ SHUTDOWN_GRACE_MS: String(GRACE_MS), CHAT_MSG_PER_MIN: '1000000', WALKERS_DIR: fixtureDir() })
  t.teardown(() => server.proc.kill('SIGKILL'))
  const url = (path: string) => `ws://127.0.0.1:${server.port}${path}`
  const dep: Deployment = { connect: (path, opts) => WsTestClient.connect(url(path), opts), close: async () => {} }

  const users: ChatUser[] = []
  for (let i = 0; i < CLIENTS; i += 20) users.push(...await Promise.all(Array.from({ length: 20 }, (_, j) => join(dep, `User ${i + j}`))))
  const senders: Sender[] = users.map((user, i) => ({ user, partner: users[i ^ 1]!, sent: [], answers: new Map(), received: [] }))
  for (let i = 0; i < CLIENTS; i += 2) await openChat(users[i]!, users[i + 1]!)

  // Every frame from here on is recorded as it arrives.
  for (const s of senders) {
    const ws = s.user.client.ws
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString())
      if (m.type === 'MSG' && m.data.from === s.partner.user_id) s.received.push(m.data.message_id)
      const id = m.type === 'MSG_ACK' ? m.data.message_id : m.type === 'ERROR' ? m.data.details?.message_id : undefined
      if (id !== undefined) {
        if (s.answers.has(id)) t.fail(`${id} answered twice`)
        s.answers.set(id, m)
      }
    })
    ws.on('close', (code, reason) => (s.closed = { code, reason: reason.toString() }))
  }

  // Each client sends a MSG every 50 ms for as long as its socket is open: a MSG sent while
  // readyState is OPEN is one sent before the client saw the server's close frame.
  let seq = 0
  const timers = senders.map((s, i) => setTimeout(function tick() {
    const ws = s.user.client.ws
    if (ws.readyState !== ws.OPEN) return
    const id = `${i}-${seq++}`
    s.sent.push(id)
    ws.send(JSON.stringify({ type: 'MSG', data: { to: s.partner.user_id, content: `m ${id}`, message_id: id } }))
    timers[i] = setTimeout(tick, SEND_EVERY_MS)
  }, (i * SEND_EVERY_MS) / CLIENTS))
  t.teardown(() => timers.forEach(clearTimeout))
  await new Promise((r) => setTimeout(r, 1500))

  const slow = await WsTestClient.connect(url('/ws/Slow'))
  slow.send({ tag: 'in flight at SIGTERM', ms: 700 })
  await new Promise((r) => setTimeout(r, 50))
  const killedAt = Date.now()
  server.proc.kill('SIGTERM')
  // Upgrades once the drain began: refused with 503 until the listener is gone, never accepted.
  while (!server.output().includes('"msg":"shutting down"')) await new Promise((r) => setTimeout(r, 2))
  const attempts: (number | string)[] = []
  while (!senders.every((s) => s.closed) && Date.now() - killedAt < GRACE_MS) {
    try {
      attempts.push(await WsTestClient.refusal(url('/ws')))
    } catch (err) {
      attempts.push((err as NodeJS.ErrnoException).code ?? String(err))
    }
    await new Promise((r) => setTimeout(r, 5))
  }
  const { code } = await server.exited
  const tookMs = Date.now() - killedAt
  timers.forEach(clearTimeout)
  t.same(await slow.receiveJson(), { ok: true, data: { reports: [{ tag: 'in flight at SIGTERM' }] } }, 'the walker execution in flight finished and was answered')
  t.same(await slow.expectClose(), { code: 1001, reason: 'server shutting down' }, 'then its socket was closed with 1001')

  t.equal(code, 0, 'exit 0')
  t.ok(tookMs < GRACE_MS, `exited ${tookMs} ms after SIGTERM (grace ${GRACE_MS} ms)`)
  t.ok(attempts.includes(503), `upgrades during the drain got 503 (${attempts.filter((a) => a === 503).length} of ${attempts.length} attempts)`)
  t.same(attempts.filter((a) => a !== 503 && a !== 'ECONNREFUSED' && a !== 'ECONNRESET'), [], 'no upgrade was accepted during the drain')
  t.same([...new Set(senders.map((s) => `${s.closed?.code} ${s.closed?.reason}`))], ['1001 server shutting down'], `all ${CLIENTS} closed with 1001`)

  let sent = 0
  let acked = 0
  let failed = 0
  let unanswered = 0
  const problems: string[] = []
  for (const s of senders) {
    const partner = senders.find((x) => x.user === s.partner)!
    const receivedTimes = new Map<string, number>()
    for (const id of partner.received) receivedTimes.set(id, (receivedTimes.get(id) ?? 0) + 1)
    let gap = false
    for (const id of s.sent) {
      sent++
      const answer = s.answers.get(id)
      const got = receivedTimes.get(id) ?? 0
      if (answer?.type === 'MSG_ACK') {
        acked++
        if (got !== 1) problems.push(`${id} acked but received ${got} times`)
        if (gap) problems.push(`${id} acked after an earlier MSG went unanswered`)
      } else if (answer?.type === 'ERROR') {
        failed++
        if (got !== 0) problems.push(`${id} failed (${answer.data.code}) but was received`)
        if (gap) problems.push(`${id} answered after an earlier MSG went unanswered`)
      } else {
        unanswered++
        gap = true // only the last ones, still on the wire when the close frame left, may be unanswered
        if (got !== 0) problems.push(`${id} was delivered but never answered (silence)`)
      }
    }
    for (const id of partner.received) if (!s.sent.includes(id)) problems.push(`${id} received but never sent`)
  }
  t.same(problems.slice(0, 10), [], `${sent} MSGs sent before the clients saw 1001: ${acked} acked, ${failed} failed, ${unanswered} unanswered and undelivered`)
  const draining = senders.flatMap((s) => [...s.answers.values()]).filter((m) => m.type === 'ERROR')
  t.ok(draining.every((m) => m.data.code === 'MESSAGE_FAILED' && m.data.message === 'server shutting down; resend after reconnecting'), 'every failure is the drain\'s MESSAGE_FAILED, retryable')
  t.ok(acked > CLIENTS, `traffic really flowed (${acked} acked)`)
  t.ok(unanswered <= CLIENTS * 3, `few MSGs crossed the close frame (${unanswered})`)
  t.comment(`shutdown under load: ${sent} sent, ${acked} acked, ${failed} failed with "server shutting down", ${unanswered} crossed the close frame (undelivered); exit after ${tookMs} ms`)
})


/**
 * Alice sends Bob MSGs through a backplane that takes 20 ms per delivery (as a networked one
 * does), so a backlog builds up behind her connection; `during` ends her connection somehow.
 * Afterwards no ack may be false and no failed MSG delivered; a MSG delivered without Alice
 * being answered ("silent") is allowed only for the one being handled when her connection was
 * cut from under it (`inFlight`: 1) — never for the backlog queued behind it.
 */
async function backlogThen(t: Test, during: (app: Awaited<ReturnType<typeof startApp>>, alice: ChatUser) => Promise<void>, opts: { everyMs: number; inFlight: 0 | 1; env?: Record<string, number> }) {
  const app = await startApp({ CHAT_MSG_PER_MIN: 1_000_000, ...opts.env })
  t.teardown(app.close)
  const dep: Deployment = { connect: app.connect, close: async () => {} }
  const alice = await join(dep, 'Alice')
  const bob = await join(dep, 'Bob')
  await openChat(alice, bob)
  intercept(t, app.app.backplane, 'deliver', (deliver) => async (userId, delivery) => {
    await new Promise((r) => setTimeout(r, 20))
    return deliver(userId, delivery)
  })
  const sent: string[] = []
  const answers = new Map<string, string>()
  const received = new Map<string, number>()
  alice.client.ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString())
    if (m.type === 'MSG_ACK') answers.set(m.data.message_id, 'ack')
    if (m.type === 'ERROR') answers.set(m.data.details.message_id, m.data.code)
  })
  bob.client.ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString())
    if (m.type === 'MSG') received.set(m.data.message_id, (received.get(m.data.message_id) ?? 0) + 1)
  })
  let n = 0
  const send = () => {
    const ws = alice.client.ws
    if (ws.readyState !== ws.OPEN) return
    const id = `d-${n++}`
    sent.push(id)
    ws.send(JSON.stringify({ type: 'MSG', data: { to: bob.user_id, content: id, message_id: id } }))
  }
  const timer = setInterval(() => {
    for (let i = 0; i < (opts.everyMs === 0 ? 50 : 1); i++) send()
  }, Math.max(1, opts.everyMs))
  t.teardown(() => clearInterval(timer))
  await during(app, alice)
  clearInterval(timer)
  await alice.client.closed
  await new Promise((r) => setTimeout(r, 300)) // anything still queued would be delivered by now

  const acked = sent.filter((id) => answers.get(id) === 'ack')
  const failed = sent.filter((id) => answers.has(id) && answers.get(id) !== 'ack')
  const unanswered = sent.filter((id) => !answers.has(id))
  const silent = unanswered.filter((id) => received.has(id))
  t.same({
    falseAcks: acked.filter((id) => received.get(id) !== 1),
    failedButDelivered: failed.filter((id) => received.has(id))
  }, { falseAcks: [], failedButDelivered: [] }, `${sent.length} sent: ${acked.length} acked, ${failed.length} failed, ${unanswered.length} unanswered`)
  t.ok(silent.length <= opts.inFlight, `delivered without an answer: ${JSON.stringify(silent)} (at most ${opts.inFlight})`)
  return { acked, failed, unanswered }
}

t.test('a drain with a backlog behind a slow backplane: the backlog is answered, new MSGs fail, none is delivered silently', async (t) => {
  const r = await backlogThen(t, async (app) => {
    await new Promise((r) => setTimeout(r, 400))
    await app.app.close()
  }, { everyMs: 15, inFlight: 0, env: { SHUTDOWN_GRACE_MS: 5000 } })
  t.ok(r.acked.length >= 3, `the backlog taken in before the drain was delivered and acked (${r.acked.length})`)
  t.ok(r.failed.length > 0, 'MSGs arriving during the drain failed with MESSAGE_FAILED')
})

t.test('a drain that runs out of grace with a backlog left: the backlog is neither delivered nor acked', async (t) => {
  const r = await backlogThen(t, async (app) => {
    await new Promise((r) => setTimeout(r, 1000))
    await app.app.close()
  }, { everyMs: 15, inFlight: 1, env: { SHUTDOWN_GRACE_MS: 600 } })
  t.ok(r.unanswered.length > 1, `${r.unanswered.length} left in the backlog at the deadline`)
})

t.test('a connection closed for flooding with a backlog: its queued MSGs are dropped, not delivered without an ack', async (t) => {
  const r = await backlogThen(t, async (_app, alice) => {
    await alice.client.closed
  }, { everyMs: 0, inFlight: 1 })
  t.ok(r.unanswered.length > 100, `the flood was cut; its ${r.unanswered.length - 1} queued MSGs were dropped`)
})
