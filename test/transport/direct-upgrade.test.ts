// The direct upgrade (plugins/websocket.ts): handshakes to /ws, /ws/echo and /ws/health go from
// the HTTP server's 'upgrade' event straight to `ws`, every other one through Fastify's route.
// Which way a handshake came is read off the server's TCP socket: Fastify's way assigns it a
// ServerResponse (released to null after the upgrade), the direct way never does (undefined).
// Both ways must answer alike: admission's refusals, the client address, the request log line.
import t from 'tap'
import Fastify from 'fastify'
import type { AddressInfo, Socket } from 'node:net'
import WebSocket from 'ws'
import { startApp } from '../helpers/app.ts'
import { handshake } from '../helpers/handshake.ts'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { loadConfig } from '../../src/config.ts'
import configPlugin from '../../plugins/config.ts'
import websocketPlugin from '../../plugins/websocket.ts'

type Tcp = Socket & { _httpMessage?: unknown }

t.test('the direct routes, with their trailing slash and a query, come in directly; others through Fastify', async (t) => {
  const s = await startApp({ LOG_LEVEL: 'info' })
  t.teardown(s.close)
  const tcp: Tcp[] = []
  s.app.server.on('connection', (socket: Tcp) => tcp.push(socket))
  const cases: Array<[string, 'direct' | 'fastify', (c: WsTestClient) => Promise<unknown>]> = [
    ['/ws', 'direct', async (c) => (await c.receiveJson()).type],
    ['/ws/', 'direct', async (c) => (await c.receiveJson()).type],
    ['/ws?token=sekrit-direct&x=1&x=2', 'direct', async (c) => (await c.receiveJson()).type],
    ['/ws/echo', 'direct', async (c) => (await c.receiveJson()).type],
    ['/ws/echo/?a=b', 'direct', async (c) => (await c.receiveJson()).type],
    ['/ws/health', 'direct', async (c) => (await c.receiveJson()).type],
    ['/ws/EchoMessage', 'fastify', async (c) => {
      c.send(JSON.stringify({ message: 'hi' }))
      return typeof (await c.receiveJson())
    }]
  ]
  const expected: Record<string, unknown> = { '/ws': 'WELCOME', '/ws/echo': 'welcome', '/ws/health': 'health_status', '/ws/EchoMessage': 'object' }
  for (const [path, way, first] of cases) {
    const c = await s.connect(path)
    const route = path.split('?')[0]!.replace(/(.)\/$/, '$1')
    t.equal(await first(c), expected[route], `${path} answers`)
    t.equal(tcp.at(-1)!._httpMessage, way === 'direct' ? undefined : null, `${path} came in ${way === 'direct' ? 'directly' : 'through Fastify'}`)
    c.close()
  }
  t.equal(await WsTestClient.refusal(s.ws('/WS')), 404, 'paths are case-sensitive, as Fastify routes them')

  // The request log line, in Fastify's shape, with a request id of its own and no query.
  const lines = s.logs.map((l) => JSON.parse(l) as { msg: string; reqId?: string; req?: Record<string, unknown> })
  const direct = lines.filter((l) => l.msg === 'incoming request' && l.reqId?.startsWith('ws-'))
  t.same(direct.map((l) => l.req), [
    { method: 'GET', url: '/ws', remoteAddress: '127.0.0.1', ws: true },
    { method: 'GET', url: '/ws/', remoteAddress: '127.0.0.1', ws: true },
    { method: 'GET', url: '/ws', remoteAddress: '127.0.0.1', ws: true },
    { method: 'GET', url: '/ws/echo', remoteAddress: '127.0.0.1', ws: true },
    { method: 'GET', url: '/ws/echo/', remoteAddress: '127.0.0.1', ws: true },
    { method: 'GET', url: '/ws/health', remoteAddress: '127.0.0.1', ws: true }
  ], 'one "incoming request" line per direct handshake, the path without its query')
  t.equal(new Set(direct.map((l) => l.reqId)).size, 6, 'each with its own request id')
  t.notOk(s.logs.join('\n').includes('sekrit-direct'), 'the token in the query reaches no log line')
})

t.test('admission answers alike both ways: origin 403, draining 503', async (t) => {
  const s = await startApp({ ALLOWED_ORIGINS: 'https://chat.example' })
  t.teardown(s.close)
  const evil = { headers: { origin: 'https://evil.example' } }
  const forbidden = { status: 403, retryAfter: undefined, body: '{"error":"Forbidden","message":"origin not allowed"}' }
  t.same(await handshake(s, '/ws', evil), forbidden, '/ws (direct)')
  t.same(await handshake(s, '/ws/EchoMessage', evil), forbidden, '/ws/EchoMessage (Fastify)')
  t.equal((await handshake(s, '/ws', { headers: { origin: 'https://chat.example' } })).status, 101, 'an allowed origin is upgraded')

  s.app.lifecycle.beginShutdown()
  const draining = { status: 503, retryAfter: undefined, body: '{"error":"Service Unavailable","message":"server shutting down"}' }
  t.same(await handshake(s, '/ws/health'), draining, '/ws/health (direct) while draining')
  t.same(await handshake(s, '/ws/EchoMessage'), draining, '/ws/EchoMessage (Fastify) while draining')
  const text = await (await fetch(`${s.http}/metrics`)).text()
  t.match(text, /switchboard_handshakes_refused_total\{reason="origin"\} 2/, 'both origin refusals counted')
  t.match(text, /switchboard_handshakes_refused_total\{reason="draining"\} 2/, 'both drain refusals counted')
})

t.test('a directUpgrade route: a handler that throws ends only its socket; a route with parameters or hooks is refused', async (t) => {
  const config = loadConfig({ LOG_LEVEL: 'warn' })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (l: string) => void logs.push(l) } } })
  t.teardown(() => app.close())
  await app.register(configPlugin, { config })
  await app.register(websocketPlugin)
  app.get('/boom', { websocket: true, config: { directUpgrade: true } }, () => {
    throw new Error('handler failed')
  })
  app.get('/fine', { websocket: true, config: { directUpgrade: true } }, (socket) => socket.send('fine'))
  t.throws(() => app.get('/x/:id', { websocket: true, config: { directUpgrade: true } }, () => undefined), /fixed path and no hooks/)
  t.throws(() => app.get('/hooked', { websocket: true, config: { directUpgrade: true }, onRequest: (_q, _r, done) => done() }, () => undefined), /fixed path and no hooks/)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const boom = new WebSocket(`${url}/boom`)
  boom.on('error', () => undefined) // the 101 was still corked: the client sees the socket hang up
  const code = await new Promise<number>((resolve) => boom.once('close', resolve))
  t.equal(code, 1006, 'the socket is terminated')
  t.ok(logs.some((l) => /"msg":"websocket error"/.test(l) && /handler failed/.test(l)), 'and the error logged')
  const fine = new WebSocket(`${url}/fine`)
  t.equal(String(await new Promise((resolve) => fine.once('message', resolve))), 'fine', 'the next handshake is served')
  fine.close()
})
