// Connection caps at the handshake (MAX_CONNECTIONS_PER_IP → 429, MAX_CONNECTIONS → 503, the
// client's address from request.ip, so behind a trusted proxy the forwarded one) and the HTTP
// limits that keep half-open and header-flooding clients from holding sockets (src/app.ts).
import t from 'tap'
import net from 'node:net'
import { startApp, type TestApp } from '../helpers/app.ts'
import { waitUntil } from '../helpers/walkers.ts'
import { handshake } from '../helpers/handshake.ts'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'

const from = (localAddress: string, headers: Record<string, string> = {}) => ({ localAddress, headers })

const refusals = async (app: TestApp, reason: string): Promise<number> => {
  const text = await (await fetch(`${app.http}/metrics`)).text()
  return Number(new RegExp(`switchboard_handshakes_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1])
}

t.test('MAX_CONNECTIONS_PER_IP: the next handshake from that address is 429, on every surface; others are unaffected; a close frees the slot', async (t) => {
  const app = await startApp({ MAX_CONNECTIONS_PER_IP: 3 })
  t.teardown(app.close)
  const held = [
    await app.connect('/ws', from('127.0.0.2')),
    await app.connect('/ws/echo', from('127.0.0.2')),
    await app.connect('/ws/EchoMessage', from('127.0.0.2'))
  ]
  for (const path of ['/ws', '/ws/echo', '/ws/health', '/ws/PingPong']) {
    t.equal(await WsTestClient.refusal(app.ws(path), from('127.0.0.2')), 429, `${path}: 429 from 127.0.0.2`)
  }
  const refused = await handshake(app, '/ws/echo', { localAddress: '127.0.0.2' })
  t.same(refused, { status: 429, retryAfter: '10', body: '{"error":"Too Many Requests","message":"too many connections from this address"}' }, 'Retry-After and a JSON body')
  t.equal(await refusals(app, 'per_ip'), 5, 'counted as per_ip')

  const other = await app.connect('/ws/echo', from('127.0.0.3'))
  t.equal((await other.receiveJson()).type, 'welcome', 'another address connects')
  held[1]!.send({ type: 'still' })
  await held[1]!.receiveJson() // welcome
  t.same((await held[1]!.receiveJson()).original, { type: 'still' }, 'the held connections keep being served')

  await held[0]!.close()
  await waitUntil(() => app.app.admission.caps.held('127.0.0.2') === 2, 'the slot to be given back')
  const again = await app.connect('/ws/health', from('127.0.0.2'))
  t.equal((await again.receiveJson()).type, 'health_status', 'a closed connection frees its slot')
  t.equal(await WsTestClient.refusal(app.ws('/ws'), from('127.0.0.2')), 429, 'and the cap holds again')
  const plain = await fetch(`${app.http}/health`)
  t.equal(plain.status, 200, 'plain HTTP requests are not counted')
})

t.test('MAX_CONNECTIONS: past it every address gets 503', async (t) => {
  const app = await startApp({ MAX_CONNECTIONS: 4 })
  t.teardown(app.close)
  for (let i = 2; i < 6; i++) await app.connect('/ws/echo', from(`127.0.0.${i}`))
  const refused = await handshake(app, '/ws', { localAddress: '127.0.0.9' })
  t.same(refused, { status: 503, retryAfter: '5', body: '{"error":"Service Unavailable","message":"server at connection capacity"}' })
  t.equal(await WsTestClient.refusal(app.ws('/ws/health'), from('127.0.0.2')), 503)
  t.equal(await refusals(app, 'capacity'), 2, 'counted as capacity')
  t.equal(app.app.admission.caps.size, 4)
})

t.test('simultaneous handshakes cannot overshoot the cap: slots are taken at admission, before the upgrade', async (t) => {
  const app = await startApp({ MAX_CONNECTIONS_PER_IP: 5 })
  t.teardown(app.close)
  const results = await Promise.allSettled(Array.from({ length: 40 }, () => app.connect('/ws/echo', from('127.0.0.4'))))
  const accepted = results.filter((r) => r.status === 'fulfilled').length
  const refused = results.map((r) => (r.status === 'rejected' ? (r.reason as { statusCode?: number }).statusCode : 0)).filter((s) => s === 429).length
  t.same({ accepted, refused }, { accepted: 5, refused: 35 })
})

t.test('no path leaks a slot: refused, unroutable, aborted and terminated handshakes all give theirs back', async (t) => {
  const app = await startApp({ MAX_CONNECTIONS_PER_IP: 3, ALLOWED_ORIGINS: 'https://good.example' })
  t.teardown(app.close)
  for (let i = 0; i < 30; i++) {
    t.equal(await WsTestClient.refusal(app.ws('/ws/echo'), { localAddress: '127.0.0.5', headers: { origin: 'https://evil.example' } }), 403)
    // Admitted (it holds a slot), then no route takes the upgrade.
    t.equal((await handshake(app, '/ws/a/b/c', { localAddress: '127.0.0.5' })).status, 404)
    // Admitted, then ws refuses the handshake itself.
    t.equal((await handshake(app, '/ws/echo', { localAddress: '127.0.0.5', headers: { 'sec-websocket-version': '99' } })).status, 400)
  }
  const clients = await Promise.all(Array.from({ length: 3 }, () => app.connect('/ws/echo', from('127.0.0.5'))))
  for (const c of clients) c.terminate()
  await waitUntil(() => app.app.admission.caps.size === 0, 'every slot back')
  t.equal(app.app.admission.caps.held('127.0.0.5'), 0)
  const fresh = await Promise.all(Array.from({ length: 3 }, () => app.connect('/ws/echo', from('127.0.0.5'))))
  t.equal(fresh.length, 3, 'the full per-address allowance is still there')
})

t.test('behind a trusted proxy the forwarded address is counted; without trust a forged header changes nothing', async (t) => {
  const proxied = await startApp({ MAX_CONNECTIONS_PER_IP: 2, TRUST_PROXY: '127.0.0.1' })
  t.teardown(proxied.close)
  const xff = (ip: string) => ({ headers: { 'x-forwarded-for': ip } })
  await proxied.connect('/ws/echo', xff('203.0.113.7'))
  await proxied.connect('/ws/echo', xff('203.0.113.7'))
  t.equal(await WsTestClient.refusal(proxied.ws('/ws/echo'), xff('203.0.113.7')), 429, 'the third from one forwarded client')
  await proxied.connect('/ws/echo', xff('203.0.113.8'))
  t.pass('another forwarded client through the same proxy connects')
  // IPv6 clients are counted per /64: one subscriber holds the whole prefix.
  await proxied.connect('/ws/echo', xff('2001:db8:0:1::1'))
  await proxied.connect('/ws/echo', xff('2001:db8:0:1:ffff::2'))
  t.equal(await WsTestClient.refusal(proxied.ws('/ws/echo'), xff('2001:db8:0:1::3')), 429, 'a third address in the same /64')
  await proxied.connect('/ws/echo', xff('2001:db8:0:2::1'))
  t.pass('another /64 connects')

  const direct = await startApp({ MAX_CONNECTIONS_PER_IP: 2 })
  t.teardown(direct.close)
  await direct.connect('/ws/echo', xff('203.0.113.1'))
  await direct.connect('/ws/echo', xff('203.0.113.2'))
  t.equal(await WsTestClient.refusal(direct.ws('/ws/echo'), xff('203.0.113.3')), 429, 'TRUST_PROXY=false: every one of them is 127.0.0.1')
})

// ---------------------------------------------------------------- HTTP limits

const LIMITS = { headersTimeoutMs: 400, requestTimeoutMs: 800, checkIntervalMs: 100, keepAliveTimeoutMs: 300 }

/**
 * A raw TCP client that writes `start`, then `trickle` every 50 ms (a slowloris keeps each
 * request alive like this) for as long as the server allows; resolves with what the server
 * said and when it closed the connection.
 */
function raw(app: TestApp, start: string, trickle?: string): Promise<{ ms: number; reply: string }> {
  return new Promise((resolve) => {
    const started = Date.now()
    let reply = ''
    let timer: NodeJS.Timeout | undefined
    const sock = net.connect(app.port, '127.0.0.1', () => {
      if (start) sock.write(start)
      if (trickle) timer = setInterval(() => sock.writable && sock.write(trickle), 50)
    })
    sock.on('data', (d) => (reply += d))
    sock.on('error', () => {})
    sock.on('close', () => {
      clearInterval(timer)
      resolve({ ms: Date.now() - started, reply })
    })
  })
}

t.test('half-open clients are cut: no headers, headers trickled, a body trickled; 408, and others are served meanwhile', async (t) => {
  const app = await startApp({}, { httpLimits: LIMITS })
  t.teardown(app.close)
  const silent = Array.from({ length: 100 }, () => raw(app, ''))
  const slowHeaders = Array.from({ length: 100 }, () => raw(app, 'GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n', 'X-Slow: 1\r\n'))
  const slowBody = raw(app, 'POST /walker/Greeting HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{', ' ')

  const c = await app.connect('/ws/echo')
  t.equal((await c.receiveJson()).type, 'welcome', 'a real client is served while 201 half-open sockets wait')

  const cut = await Promise.all([...silent, ...slowHeaders])
  const worst = Math.max(...cut.map((r) => r.ms))
  t.ok(worst < LIMITS.headersTimeoutMs + 1500, `all 200 cut within ${worst} ms (headers timeout ${LIMITS.headersTimeoutMs} ms)`)
  t.ok(cut.every((r) => r.reply.startsWith('HTTP/1.1 408')), 'each was told 408')
  const body = await slowBody
  t.ok(body.ms < LIMITS.requestTimeoutMs + 1500 && body.reply.startsWith('HTTP/1.1 408'), `a trickled body was cut after ${body.ms} ms with 408`)
  t.ok(c.isOpen, 'an upgraded WebSocket is not subject to the HTTP timeouts')
})

t.test('a handshake with headers over 16 KB is 431, before any upgrade', async (t) => {
  const app = await startApp()
  t.teardown(app.close)
  t.equal(await WsTestClient.refusal(app.ws('/ws/echo'), { headers: { cookie: `token=${'x'.repeat(17_000)}` } }), 431)
  t.equal(await WsTestClient.refusal(app.ws('/ws'), { headers: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`x-h${i}`, 'y'.repeat(40)])) }), 431, 'many headers add up too')
  const fine = await app.connect('/ws/echo', { headers: { cookie: `token=${'x'.repeat(8000)}` } })
  t.equal((await fine.receiveJson()).type, 'welcome', 'an 8 KB token still fits')
})

t.test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
  const app = await startApp({}, { httpLimits: LIMITS })
  t.teardown(app.close)
  const r = await new Promise<{ ms: number; reply: string }>((resolve) => {
    const started = Date.now()
    let reply = ''
    const sock = net.connect(app.port, '127.0.0.1', () => sock.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n'))
    sock.on('data', (d) => (reply += d))
    sock.on('close', () => resolve({ ms: Date.now() - started, reply }))
  })
  t.match(r.reply, /^HTTP\/1\.1 200/)
  // Node adds up to a second of its own to the keep-alive timeout before it closes.
  t.ok(r.ms < LIMITS.keepAliveTimeoutMs + 2000, `closed after ${r.ms} ms`)
})
