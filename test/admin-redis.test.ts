// The admin console over Redis (src/backplane/instance-board.ts): every instance's console lists
// every instance with its lease age and the counts it publishes; an instance that closes leaves
// the list (it retires its lease on the way out; a crashed one goes when its lease runs out); while
// Redis does not answer the console says so and the rest of it keeps ticking.
import t from 'tap'
import type { WsTestClient } from '../src/testing/ws-test-client.ts'
import { startInstances } from './helpers/redis.ts'
import { join, type Frame } from './helpers/fastchat.ts'
import type { TestApp } from './helpers/app.ts'

const TOKEN = 'redis-admin-token-0123456789abcdef'
const consoleOf = (app: TestApp): Promise<WsTestClient> => app.connect('/admin/ws', { headers: { authorization: `Bearer ${TOKEN}` } })

t.test('every instance, its counts and lease age, on each console; a stopped instance leaves the list', async (t) => {
  const s = await startInstances(3, { ADMIN_TOKEN: TOKEN, INSTANCE_TTL_S: 2 })
  t.teardown(s.close)
  const [one, two, three] = s.apps as [TestApp, TestApp, TestApp]
  const ids = s.apps.map((a) => a.app.backplane.instanceId)
  await join(one, 'Alice')
  await join(two, 'Bob')
  await two.connect('/ws/echo')

  const admin = await consoleOf(one)
  t.match(await admin.receiveJson(), { type: 'hello', redis: true })
  const tick = await admin.waitFor((m: Frame) => m.type === 'tick' && m.instances?.rows?.length === 3 && m.instances.rows.every((r: Frame) => r.stats), { timeout: 5000 })
  const rows = tick.instances.rows
  t.equal(rows[0].instance, ids[0], 'this instance first')
  t.equal(rows[0].self, true)
  t.same(rows.map((r: Frame) => r.instance).sort(), [...ids].sort())
  const byId = new Map(rows.map((r: Frame) => [r.instance, r]))
  t.match(byId.get(ids[1]), { self: false, users_held: 1, stats: { connections: { main: 1, echo: 1 }, users: 1 } }, 'instance 2 publishes its counts')
  t.match(byId.get(ids[0]), { users_held: 1, stats: { connections: { main: 1 } } })
  for (const r of rows) {
    t.ok(r.lease_age_ms >= 0 && r.lease_age_ms < 2000, `lease age ${r.lease_age_ms} ms: renewed within the lease`)
    t.ok(r.lease_left_ms > 0, 'not expired')
  }
  t.equal(tick.users.online, 2, 'users online service-wide')
  t.equal(tick.users.local, 1, 'one of them here')

  // The HTTP form says the same.
  const state = await (await fetch(`${two.http}/admin/api/state`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()
  t.equal(state.instances.rows[0].instance, ids[1], 'each instance lists itself first')

  // Instance 3 stops: on close it leaves Redis (sbRetire), so it is gone from the next list.
  await three.close()
  await admin.waitFor((m: Frame) => m.type === 'tick' && m.instances?.rows?.length === 2, { timeout: 5000 })
  t.pass('a closed instance leaves the list')

  // Redis away: the console says so and keeps ticking with this instance's own numbers.
  await s.redis.stop()
  const down = await admin.waitFor((m: Frame) => m.type === 'tick' && 'error' in (m.instances ?? {}), { timeout: 5000 })
  t.match(down.instances.error, /redis does not answer/)
  t.equal(down.users.local, 1, 'the local view goes on')
})
