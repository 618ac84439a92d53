// What an ack promises (SPEC section 9): a message acknowledged `stored` is in the log even when
// the process is killed right after. 1,000 MSGs to an offline user, the server SIGKILLed at a
// random moment, then restarted (SQLite: on the same DATA_DIR) or its peer asked (Redis: another
// instance on the same Redis): every acked message is handed over exactly once, in order, and
// what was handed over is a gap-free prefix of what was sent.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { startServer, type ServerProcess } from './helpers/process.ts'
import { startRedis } from './helpers/redis.ts'
import { next, type Deployment, type Frame } from './helpers/fastchat.ts'
import { joinHistory, openWith, rejoin } from './helpers/history.ts'

const TOTAL = 1000
const FAST = { CHAT_MSG_PER_MIN: '100000', WS_FRAMES_PER_SEC: '100000', WS_FRAME_BURST: '100000' }

/** A deployment on one spawned server process. */
function on(server: ServerProcess): Deployment {
  const clients: WsTestClient[] = []
  return {
    async connect(path) {
      const c = await WsTestClient.connect(`ws://127.0.0.1:${server.port}${path}`)
      clients.push(c)
      return c
    },
    async close() {
      for (const c of clients) c.terminate()
    }
  }
}

async function stop(server: ServerProcess): Promise<void> {
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL')
  await server.exited
}

/**
 * Alice streams TOTAL messages to offline Bob through `sender`; the sender process is killed
 * after a random number of acks. Returns the acked message_ids, in ack order.
 */
async function sendUntilKilled(t: Test, sender: ServerProcess, alice: Awaited<ReturnType<typeof joinHistory>>, bob: { user_id: string }): Promise<string[]> {
  const killAfter = 100 + Math.floor(Math.random() * 800)
  t.comment(`killing the sender after ${killAfter} acks`)
  for (let i = 0; i < TOTAL; i++) alice.client.send({ type: 'MSG', data: { to: bob.user_id, content: `m${i}`, message_id: `d-${i}` } })
  const acked: string[] = []
  const statuses = new Set<string>()
  try {
    await alice.client.receiveUntil((m: Frame) => {
      if (m.type === 'MSG_ACK') {
        acked.push(m.data.message_id)
        statuses.add(m.data.status)
        if (acked.length === killAfter) sender.proc.kill('SIGKILL')
      }
      return acked.length === TOTAL
    }, { timeout: 30_000 })
  } catch {
    // the socket died with the process
  }
  await sender.exited
  t.strictSame([...statuses], ['stored'], 'Bob was offline: every ack said stored')
  return acked
}

/** Bob's backlog after the crash: every MSG frame until none comes for a while. */
async function handedOver(bob: Awaited<ReturnType<typeof joinHistory>>): Promise<Frame[]> {
  const got: Frame[] = []
  try {
    await bob.client.receiveUntil((m: Frame) => {
      if (m.type === 'MSG') got.push(m.data)
      return false
    }, { timeout: 1500 })
  } catch {
    // quiet for 1.5 s: the backlog is over
  }
  return got
}

function check(t: Test, acked: string[], got: Frame[]): void {
  t.ok(acked.length >= 100, `${acked.length} acked before the kill`)
  t.strictSame(acked, acked.map((_, i) => `d-${i}`), 'acks came in send order')
  t.strictSame(got.map((m) => m.seq), got.map((_, i) => i + 1), 'seq 1, 2, 3 … without a gap or a repeat')
  t.strictSame(got.map((m) => m.message_id), got.map((_, i) => `d-${i}`), 'what survived is a prefix of what was sent, each once')
  t.ok(got.length >= acked.length, `every acked message survived (${got.length} handed over, ${acked.length} acked)`)
}

t.test('sqlite: acked messages survive a SIGKILL and a restart on the same DATA_DIR', async (t) => {
  const dir = mkdtempSync(joinPath(tmpdir(), 'sb-durable-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { ...FAST, HISTORY_STORE: 'sqlite', DATA_DIR: dir }
  const first = await startServer(env)
  t.teardown(() => stop(first))
  const dep1 = on(first)
  t.teardown(dep1.close)
  const alice = await joinHistory(dep1, 'Alice')
  const bob = await joinHistory(dep1, 'Bob')
  await bob.client.close()
  await next(alice.client, 'PRESENCE')
  await openWith(alice, bob)
  const acked = await sendUntilKilled(t, first, alice, bob)

  const second = await startServer(env)
  t.teardown(() => stop(second))
  const dep2 = on(second)
  t.teardown(dep2.close)
  const back = await rejoin(dep2, bob)
  t.equal(back.chats.data.chats[0].unread, back.chats.data.chats[0].last_seq, 'CHATS counts every survivor unread')
  check(t, acked, await handedOver(back))
})

t.test('redis: acked messages survive the SIGKILL of the instance that acked them; another instance hands them over', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const env = { ...FAST, REDIS_URL: redis.url, HISTORY_STORE: 'redis' }
  const [a, b] = await Promise.all([startServer(env), startServer(env)])
  t.teardown(() => stop(a))
  t.teardown(() => stop(b))
  const onA = on(a)
  const onB = on(b)
  t.teardown(onA.close)
  t.teardown(onB.close)
  const alice = await joinHistory(onA, 'Alice')
  const bob = await joinHistory(onB, 'Bob')
  await bob.client.close()
  await alice.client.waitFor((m: Frame) => m.type === 'PRESENCE' && !m.data.users.some((u: Frame) => u.user_id === bob.user_id), { timeout: 5000 })
  await openWith(alice, bob)
  const acked = await sendUntilKilled(t, a, alice, bob)

  const back = await rejoin(onB, bob)
  check(t, acked, await handedOver(back))
})
