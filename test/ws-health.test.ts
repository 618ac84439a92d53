import t from 'tap'
import { HealthConnection } from '../routes/ws-health.ts'
import type { Conn } from '../src/transport/connections.ts'
import { setTimeout as sleep } from 'node:timers/promises'
import { startApp } from './helpers/app.ts'
import { ofType } from '../src/testing/ws-test-client.ts'

t.test('/ws/health welcome exposes config and environment', async (t) => {
  const s = await startApp({ ALLOWED_ORIGINS: 'http://localhost:3000,http://127.0.0.1:3000' })
  t.teardown(s.close)
  const c = await s.connect('/ws/health')
  const w = await c.receiveJson()
  t.same(Object.keys(w), ['type', 'status', 'client_id', 'server_time', 'config', 'environment'])
  t.equal(w.type, 'health_status')
  t.equal(w.status, 'connected')
  t.match(w.client_id, /^health_client_\d{13}_\d{5}$/)
  t.same(w.config, { ping_interval: 30, ping_timeout: 10, expected_min_connection_duration: 30 })
  t.same(w.environment, {
    allowed_origins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
    public_base_url: `http://localhost:${s.port}`,
    ws_public_url: `ws://localhost:${s.port}/ws`
  })
})

t.test('/ws/health heartbeats, get_status, pong counting, bad input', async (t) => {
  const s = await startApp({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5' })
  t.teardown(s.close)
  const c = await s.connect('/ws/health')
  const { client_id } = await c.receiveJson()

  const beats = []
  for (let i = 0; i < 3; i++) beats.push(await c.receiveJson({ timeout: 2500 }))
  t.same(beats.map((b) => b.ping_number), [1, 2, 3])
  for (const b of beats) {
    t.same(Object.keys(b), ['type', 'ping_number', 'timestamp', 'connection_age_seconds', 'client_id'])
    t.equal(b.type, 'heartbeat')
    t.equal(b.client_id, client_id)
  }
  t.ok(beats[0].connection_age_seconds >= 0.9, 'first heartbeat about one interval after open')
  t.ok(beats[2].connection_age_seconds > beats[1].connection_age_seconds)

  const ages: number[] = []
  for (let i = 0; i < 3; i++) {
    c.send({ type: 'get_status' })
    const st = await c.waitFor(ofType('health_status'))
    t.same(Object.keys(st), ['type', 'status', 'connection_age_seconds', 'ping_count', 'pong_count', 'timestamp', 'client_id'])
    t.equal(st.status, 'healthy')
    t.ok(st.ping_count >= 3, 'ping_count counts heartbeats sent')
    ages.push(st.connection_age_seconds)
    await sleep(20)
  }
  t.ok(ages[0]! < ages[1]! && ages[1]! < ages[2]!, `age rises: ${ages}`)

  c.send({ type: 'get_status' })
  const before = (await c.waitFor(ofType('health_status'))).pong_count
  c.send({ type: 'pong' })
  c.send({ type: 'get_status' })
  const after = (await c.waitFor(ofType('health_status'))).pong_count
  t.equal(after, before + 1, 'pong_count rises by 1')

  c.send('not valid json')
  c.send({ type: 'get_status' })
  const next = await c.receiveUntil(ofType('health_status'))
  t.same(next.filter((m) => m.type !== 'heartbeat').map((m) => m.type), ['health_status'], 'no reply to non-JSON')
  t.equal(next[next.length - 1]!.status, 'healthy')

  c.send({ type: 'ping' })
  const pong = await c.waitFor(ofType('pong'))
  t.same(Object.keys(pong), ['type', 'timestamp', 'client_id'])

  c.send({ type: 'whatever' })
  const err = await c.waitFor(ofType('error'))
  t.same(Object.keys(err), ['type', 'message'])
  c.send({ type: 'get_status' })
  t.equal((await c.waitFor(ofType('health_status'))).status, 'healthy')
})

t.test('/ws/health: ping_count and ping_number count the heartbeats sent, not those dropped for a client that does not read', async (t) => {
  // A heartbeat is droppable (a slow reader gets none past WS_SEND_SOFT_CAP); the protocol ping
  // beside it is not, so counting pings reported heartbeats nobody was sent, and left gaps.
  const out: string[] = []
  let reading = true
  const conn = {
    id: 'health_client_1', openedAt: Date.now(),
    send: (f: string) => void out.push(f),
    sendDroppable: (f: string) => reading && out.push(f) > 0,
    receivedAs: () => {}
  }
  const health = new HealthConnection(conn as unknown as Conn)
  for (const read of [true, false, false, true, true]) {
    reading = read
    health.beat()
  }
  health.message(Buffer.from('{"type":"get_status"}'))
  const frames = out.map((f) => JSON.parse(f) as { type: string; ping_number?: number; ping_count?: number })
  t.same(frames.filter((f) => f.type === 'heartbeat').map((f) => f.ping_number), [1, 2, 3], 'numbered as sent')
  t.equal(frames.at(-1)!.ping_count, 3, 'three heartbeats sent')
})
