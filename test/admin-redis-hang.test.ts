// The admin console while Redis hangs (SIGSTOP: a long fork or save, a partition): every command
// waits for the command timeout, yet each sample the sampler takes still reaches the console as
// its own tick, about a second apart and within REDIS_WAIT_MS of being taken; the instance list
// says Redis does not answer and carries the last list it gave; users' chats are the last known
// ones, flagged. Only the test's own redis-server is stopped (test/helpers/redis.ts), never 6379.
import t from 'tap'
import { startInstances } from './helpers/redis.ts'
import { join, openChat, sleep, type Frame } from './helpers/fastchat.ts'
import type { TestApp } from './helpers/app.ts'
import type { Sampler } from '../src/admin/sampler.ts'

const TOKEN = 'redis-admin-token-0123456789abcdef'

t.test('Redis hangs: a tick for every sample, about once a second, with the last instance list and chats marked so', async (t) => {
  const s = await startInstances(1, { ADMIN_TOKEN: TOKEN })
  t.teardown(s.close)
  const app = s.apps[0] as TestApp
  const info = await s.redis.client().info('server')
  const pid = Number(/process_id:(\d+)/.exec(info)![1])
  const alice = await join(app, 'Alice')
  const bob = await join(app, 'Bob')
  await openChat(alice, bob)

  const admin = await app.connect('/admin/ws', { headers: { authorization: `Bearer ${TOKEN}` } })
  const ticks: { at: number; tick: Frame }[] = []
  admin.ws.on('message', (data) => {
    const m = JSON.parse(String(data))
    if (m.type === 'tick') ticks.push({ at: Date.now(), tick: m })
  })
  await admin.waitFor((m: Frame) => m.type === 'tick' && m.instances?.rows?.length === 1 && m.users.users.length === 2, { timeout: 5000 })

  process.kill(pid, 'SIGSTOP')
  t.teardown(() => process.kill(pid, 'SIGCONT'))
  const stoppedAt = Date.now()
  await sleep(6000)
  const window = ticks.filter((x) => x.tick.sample.t > stoppedAt + 500 && x.tick.sample.t < stoppedAt + 5500)
  const sampler = (app.app.admin.console as unknown as { sampler: Sampler }).sampler
  const taken = sampler.history().filter((x) => x.t > stoppedAt + 500 && x.t < stoppedAt + 5500).map((x) => x.t)
  t.ok(taken.length >= 4, `the sampler took ${taken.length} samples in 5 s`)
  t.same(window.map((x) => x.tick.sample.t), taken, 'each of them went out as its own tick, none dropped')
  const late = window.map((x) => x.at - x.tick.sample.t)
  t.ok(late.every((ms) => ms < 700), `each within REDIS_WAIT_MS (300) of being taken, plus slack: ${late.join(', ')} ms`)

  const last = window[window.length - 1]!.tick
  t.match(last.instances, { error: /^redis does not answer/, rows: [{ self: true, users_held: 2 }] }, 'the last list, said to be old')
  t.ok(window.every((x) => x.tick.users.local === 2), 'this instance\'s users are each second\'s')
  // The backplane answers a chat look-up from this instance's own state once Redis's command
  // times out (a second), so a tick either has that or, waiting less, the last known chats.
  t.ok(window.some((x) => x.tick.users.chats_stale === true), 'chats not answered in time are marked as the last known')
  const alicesChats = window.map((x) => x.tick.users.users.find((u: Frame) => u.user_id === alice.user_id)?.chats)
  t.ok(alicesChats.every((chats) => chats?.length === 1 && chats[0].with === bob.user_id), 'and every tick still shows them')

  // Redis answers again: so does the list.
  process.kill(pid, 'SIGCONT')
  await admin.waitFor((m: Frame) => m.type === 'tick' && m.instances?.rows?.length === 1 && !('error' in m.instances) && m.users.chats_stale === false, { timeout: 8000 })
  t.pass('fresh again once Redis answers')
})
