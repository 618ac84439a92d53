// SPEC section 0 across surfaces: origin check, frame limits, heartbeat, close codes, ids, logs.
import t from 'tap'
import net from 'node:net'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { startApp } from './helpers/app.ts'

t.test('handshake origin check', async (t) => {
  const s = await startApp({ ALLOWED_ORIGINS: 'https://good.example' })
  t.teardown(s.close)
  for (const path of ['/ws', '/ws/echo', '/ws/health']) {
    t.equal(await WsTestClient.refusal(s.ws(path), { headers: { Origin: 'https://evil.example' } }), 403, `${path} refuses a foreign origin`)
  }
  const noOrigin = await s.connect('/ws/echo')
  t.equal((await noOrigin.receiveJson()).type, 'welcome', 'no Origin is accepted')
  const sameHost = await s.connect('/ws/echo', { headers: { Origin: `http://127.0.0.1:${s.port}` } })
  t.equal((await sameHost.receiveJson()).type, 'welcome', 'same-host origin is accepted')
  const listed = await s.connect('/ws/echo', { headers: { Origin: 'https://good.example' } })
  t.equal((await listed.receiveJson()).type, 'welcome', 'listed origin is accepted')

  const any = await startApp({ ALLOWED_ORIGINS: '*' })
  t.teardown(any.close)
  const c = await any.connect('/ws/echo', { headers: { Origin: 'https://evil.example' } })
  t.equal((await c.receiveJson()).type, 'welcome', '* accepts any origin')
})

t.test('frame over WS_MAX_PAYLOAD closes 1009; others keep being served', async (t) => {
  const s = await startApp({ WS_MAX_PAYLOAD: '1024' })
  t.teardown(s.close)
  const victim = await s.connect('/ws/echo')
  const other = await s.connect('/ws/echo')
  await victim.receiveJson()
  await other.receiveJson()
  victim.send('x'.repeat(2000))
  await victim.expectClose(1009)
  other.send({ type: 'still' })
  t.same((await other.receiveJson()).original, { type: 'still' })
  const fresh = await s.connect('/ws')
  t.equal((await fresh.receiveJson()).type, 'WELCOME')
})

t.test('invalid UTF-8 in a text frame closes 1007', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws')
  await c.receiveJson()
  c.ws.send(Buffer.from([0x68, 0xff, 0xfe, 0x69]), { binary: false })
  await c.expectClose(1007)
})

t.test('a peer that stops answering pings is terminated within interval + timeout', async (t) => {
  const s = await startApp({ WS_PING_INTERVAL: '0.5', WS_PING_TIMEOUT: '0.25' })
  t.teardown(s.close)
  const dead = await s.connect('/ws/echo', { autoPong: false })
  const alive = await s.connect('/ws/echo')
  const started = Date.now()
  const info = await dead.expectClose(undefined, { timeout: 3000 })
  const took = Date.now() - started
  t.equal(info.code, 1006, 'terminated, not closed politely')
  t.ok(took <= 1000, `terminated after ${took} ms (interval + timeout = 750 ms, plus one tick)`)
  t.ok(alive.isOpen, 'a peer that answers stays connected')
  await new Promise((r) => setTimeout(r, 1200))
  t.ok(alive.isOpen, 'and keeps staying connected')
})

t.test('client close 1000 is answered with 1000; trailing slashes tolerated', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/echo/')
  t.equal((await c.receiveJson()).endpoint, '/ws/echo')
  const info = await c.close(1000)
  t.equal(info.code, 1000)
  const h = await s.connect('/ws/health/')
  t.equal((await h.receiveJson()).type, 'health_status')
  const res = await fetch(`${s.http}/health/`)
  t.equal(res.status, 200)
})

t.test('client ids are unique and use the surface prefix', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const ids = new Set<string>()
  const clients = await Promise.all(Array.from({ length: 30 }, () => s.connect('/ws')))
  for (const c of clients) ids.add((await c.receiveJson()).data.client_id)
  t.equal(ids.size, 30)
})

t.test('a token in the query string never reaches the logs', async (t) => {
  const s = await startApp({ LOG_LEVEL: 'trace', ALLOWED_ORIGINS: 'https://good.example' })
  t.teardown(s.close)
  const c = await s.connect('/ws/echo?token=secret123')
  await c.receiveJson()
  await c.close()
  await WsTestClient.refusal(s.ws('/ws?token=secret123'), { headers: { Origin: 'https://evil.example' } })
  await fetch(`${s.http}/nowhere?token=secret123`)
  await fetch(`${s.http}/health?token=secret123`)
  // An upgrade to a route that has no websocket handler is logged by @fastify/websocket.
  await WsTestClient.refusal(s.ws('/health/live?token=secret123')).catch(() => 0)
  await new Promise((r) => setTimeout(r, 100))
  const all = s.logs.join('')
  t.ok(s.logs.length > 5, `logs were captured (${s.logs.length} lines)`)
  t.match(all, /\/ws\/echo/, 'the path is logged')
  t.notMatch(all, /secret123/, 'the token is not')
})

t.test('/health reports fields; 503 while shutting down; /health/live', async (t) => {
  const s = await startApp()
  const c = await s.connect('/ws')
  await c.receiveJson()
  const res = await fetch(`${s.http}/health`)
  t.equal(res.status, 200)
  const body = await res.json()
  t.same(Object.keys(body), ['status', 'uptime_s', 'connections', 'version', 'checks'])
  t.equal(body.status, 'ok')
  t.equal(body.connections, 1)
  t.match(body.version, /^\d+\.\d+\.\d+/)
  t.same(body.checks, { redis: 'disabled' })
  t.same(await (await fetch(`${s.http}/health/live`)).json(), { status: 'ok' })

  // Hold the drain open: this client never answers the close handshake.
  const stubborn = net.connect(s.port, '127.0.0.1')
  await new Promise<void>((resolve) => {
    stubborn.write(`GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    stubborn.once('data', () => resolve())
  })
  const hold = setInterval(() => {}, 1000) // the drain's own timers are unref'd
  const closing = s.app.close()
  const closed = await c.expectClose(1001)
  t.equal(closed.reason, 'server shutting down')
  const during = await fetch(`${s.http}/health`)
  t.equal(during.status, 503)
  t.equal((await during.json()).status, 'unavailable')
  const live = await fetch(`${s.http}/health/live`)
  t.equal(live.status, 200, 'liveness stays 200 while draining')
  t.equal(await WsTestClient.refusal(s.ws('/ws')), 503, 'upgrades are refused while draining')
  stubborn.destroy()
  await closing
  clearInterval(hold)
})
