// The other half of "shutdown under load": FastChat client SDKs (src/client) keep sending while
// the real server process is stopped with SIGTERM and a new one starts on the same port. The
// server's drain guarantees (acked ⇒ delivered once, failed or unanswered ⇒ not delivered) and
// the SDK's resend of everything unacknowledged, with the same message_id, add up to: every
// message the SDK sent is delivered exactly once — to the application and on the wire, although
// the new process remembers nothing of the old one's dedupe.
import t from 'tap'
import { startServer } from '../helpers/process.ts'
import { fixtureDir } from '../helpers/walkers.ts'
import { joinAs, nextEvent, record, type Joined } from '../helpers/chat-client.ts'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'

const PAIRS = 10
const SEND_EVERY_MS = 30
const QUICK = { backoff: { baseMs: 50, capMs: 400 } }

t.test(`${PAIRS * 2} SDK clients sending through a SIGTERM and a restart: every message delivered exactly once, in order`, async (t) => {
  // Slow (a fixture walker) in flight holds the drain open, so messages meet every stage of it.
  const env = { SHUTDOWN_GRACE_MS: '5000', CHAT_MSG_PER_MIN: '1000000', WALKERS_DIR: fixtureDir() }
  const first = await startServer(env)
  t.teardown(() => first.proc.kill('SIGKILL'))
  const url = `ws://127.0.0.1:${first.port}/ws`

  const users: Joined[] = []
  for (let i = 0; i < PAIRS * 2; i++) users.push(await joinAs(t, url, `User ${i}`, QUICK))
  const pairs = Array.from({ length: PAIRS }, (_, i) => ({ from: users[2 * i]!, to: users[2 * i + 1]! }))
  for (const { from, to } of pairs) await from.client.openChat(to.user_id)
  const app = new Map(pairs.map(({ to }) => [to.user_id, record(to.client, 'message')]))
  const wire = new Map(pairs.map(({ to }) => [to.user_id, record(to.client, 'MSG')]))
  const errors = pairs.map(({ from }) => record(from.client, 'ERROR'))

  const sent = new Map(pairs.map(({ from }) => [from.user_id, [] as string[]]))
  const sends: Promise<unknown>[] = []
  let sending = true
  const loops = pairs.map(({ from, to }, i) => (async () => {
    for (let n = 0; sending; n++) {
      const content = `${i}-${n}`
      sent.get(from.user_id)!.push(content)
      sends.push(from.client.send(to.user_id, content))
      await new Promise((r) => setTimeout(r, SEND_EVERY_MS))
    }
  })())

  await new Promise((r) => setTimeout(r, 800))
  const slow = await WsTestClient.connect(`ws://127.0.0.1:${first.port}/ws/Slow`)
  slow.send({ tag: 'hold the drain', ms: 600 })
  await new Promise((r) => setTimeout(r, 30))
  const down = Promise.all(users.map((u) => nextEvent(u.client, 'state', (s) => s.state === 'reconnecting', 10_000)))
  first.proc.kill('SIGTERM')
  t.equal((await first.exited).code, 0, 'the first process drained and exited 0')
  await down

  const second = await startServer({ ...env, PORT: String(first.port) })
  t.teardown(() => second.proc.kill('SIGKILL'))
  await Promise.all(users.map((u) => u.client.state === 'open' ? undefined : nextEvent(u.client, 'state', (s) => s.state === 'open', 15_000)))
  await new Promise((r) => setTimeout(r, 800)) // keep sending on the new process for a while
  sending = false
  await Promise.all(loops)

  const settled = await Promise.allSettled(sends)
  const rejected = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))
  t.same(rejected.slice(0, 5), [], `all ${sends.length} send() calls settled delivered`)
  await new Promise((r) => setTimeout(r, 300))

  let total = 0
  let wireDuplicates = 0
  for (const { from, to } of pairs) {
    const mine = sent.get(from.user_id)!
    total += mine.length
    const got = app.get(to.user_id)!.filter((m) => m.from === from.user_id).map((m) => m.content)
    t.same(got, mine, `${from.display_name} → ${to.display_name}: all ${mine.length} once each, in order`)
    const onWire = wire.get(to.user_id)!.filter((m) => m.from === from.user_id).map((m) => m.message_id)
    wireDuplicates += onWire.length - new Set(onWire).size
  }
  t.equal(wireDuplicates, 0, 'no message crossed the wire twice: the server never delivered one it had not acknowledged')
  const drained = errors.flat().filter((e) => e.code === 'MESSAGE_FAILED' && e.message === 'server shutting down; resend after reconnecting').length
  t.ok(drained > 0, `${drained} messages met the drain, were failed, and went through after the reconnect`)
  // USER_NOT_FOUND is the one other answer a restart may give: a MSG that reached the new process
  // while its recipient was not online there (yet, or for a moment). The SDK holds such a message for the grace period and sends it again (every
  // send above settled delivered, once, in order); seen in 3 of 2,793 messages on a loaded CI run.
  const held = errors.flat().filter((e) => e.code === 'USER_NOT_FOUND').length
  t.same(errors.flat().filter((e) => e.code !== 'MESSAGE_FAILED' && e.code !== 'USER_NOT_FOUND'), [], 'no other error')
  t.comment(`sdk restart: ${total} messages across the restart, each delivered once (${drained} failed by the drain and resent, ${held} held for a recipient between connections); ${wireDuplicates} wire duplicates`)
})
