import t from 'tap'
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
