// The direct upgrade (plugins/websocket.ts): handshakes to /ws, /ws/echo and /ws/health go from
// the HTTP server's 'upgrade' event straight to `ws`, every other one through Fastify's route.
// Which way a handshake came is read off the server's TCP socket: Fastify's way assigns it a
// ServerResponse (released to null after the upgrade), the direct way never does (undefined).
// Both ways must answer alike: admission's refusals, the client address, the request log line.
import t from 'tap'
import Fastify from 'fastify'
import { connect, type AddressInfo, type Socket } from 'node:net'
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
    { method: 'GET', url: '/ws', remoteAddress: '127.0.0.1' },
    { method: 'GET', url: '/ws/', remoteAddress: '127.0.0.1' },
    { method: 'GET', url: '/ws', remoteAddress: '127.0.0.1' },
    { method: 'GET', url: '/ws/echo', remoteAddress: '127.0.0.1' },
    { method: 'GET', url: '/ws/echo/', remoteAddress: '127.0.0.1' },
    { method: 'GET', url: '/ws/health', remoteAddress: '127.0.0.1' }
  ], 'one "incoming request" line per direct handshake, as Fastify logs one, the path without its query')
  const fastify = lines.filter((l) => l.msg === 'incoming request' && l.reqId?.startsWith('req-') && l.req?.url === '/ws/EchoMessage')
  t.same(fastify.map((l) => Object.keys(l.req!)), [Object.keys(direct[0]!.req!)], 'the same fields as Fastify\'s own line')
  t.equal(new Set(direct.map((l) => l.reqId)).size, 6, 'each with its own request id')
  t.notOk(s.logs.join('\n').includes('sekrit-direct'), 'the token in the query reaches no log line')
})

/** A handshake's raw answer off a plain TCP socket, its Date header masked. */
function rawAnswer(port: number, path: string, headers: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = ''
    const sock = connect(port, '127.0.0.1', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers}\r\n`))
    sock.on('data', (d) => (got += d))
    sock.on('close', () => resolve(got.replace(/\r\ndate: [^\r]+/i, '\r\ndate: <masked>')))
    sock.on('error', reject)
  })
}

t.test('admission answers alike both ways: origin 403, draining 503; the direct answer byte for byte', async (t) => {
  const s = await startApp({ ALLOWED_ORIGINS: 'https://chat.example', LOG_LEVEL: 'info' })
  t.teardown(s.close)
  const evil = { headers: { origin: 'https://evil.example' } }
  const forbidden = { status: 403, retryAfter: undefined, body: '{"error":"Forbidden","message":"origin not allowed"}' }
  t.same(await handshake(s, '/ws', evil), forbidden, '/ws (direct)')
  t.same(await handshake(s, '/ws/EchoMessage', evil), forbidden, '/ws/EchoMessage (Fastify)')
  t.equal((await handshake(s, '/ws', { headers: { origin: 'https://chat.example' } })).status, 101, 'an allowed origin is upgraded')
  t.equal(await rawAnswer(s.port, '/ws/echo', 'Origin: https://evil.example\r\n'),
    'HTTP/1.1 403 Forbidden\r\ndate: <masked>\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: 52\r\n\r\n' +
    '{"error":"Forbidden","message":"origin not allowed"}', 'the direct 403, byte for byte, then the socket closes')
  const lines = s.logs.map((l) => JSON.parse(l) as { msg: string; reqId?: string; origin?: string; res?: { statusCode: number } })
  const refused = lines.filter((l) => l.msg === 'handshake refused: origin not allowed')
  t.ok(refused.length === 3 && refused.every((l) => l.reqId !== undefined && l.origin === 'https://evil.example'), 'each refusal logged with its request id')
  const completed = lines.filter((l) => l.msg === 'request completed' && l.reqId?.startsWith('ws-'))
  t.same(completed.map((l) => l.res), [{ statusCode: 403 }, { statusCode: 403 }], 'a refused direct handshake gets its "request completed" line, as Fastify\'s way does')

  s.app.lifecycle.beginShutdown()
  const draining = { status: 503, retryAfter: undefined, body: '{"error":"Service Unavailable","message":"server shutting down"}' }
  t.same(await handshake(s, '/ws/health'), draining, '/ws/health (direct) while draining')
  t.same(await handshake(s, '/ws/EchoMessage'), draining, '/ws/EchoMessage (Fastify) while draining')
  const text = await (await fetch(`${s.http}/metrics`)).text()
  t.match(text, /switchboard_handshakes_refused_total\{reason="origin"\} 3/, 'every origin refusal counted')
  t.match(text, /switchboard_handshakes_refused_total\{reason="draining"\} 2/, 'both drain refusals counted')
})

t.test('a directUpgrade route on a bare app: a throwing handler or a malformed frame ends only its socket; what it cannot honour is refused', async (t) => {
  const config = loadConfig({ LOG_LEVEL: 'warn' })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (l: string) => void logs.push(l) } } })
  t.teardown(() => app.close())
  await app.register(configPlugin, { config })
  await app.register(websocketPlugin)
  app.get('/boom', { websocket: true, config: { directUpgrade: true } }, () => {
    throw new Error('handler failed')
  })
  app.get('/async-boom', { websocket: true, config: { directUpgrade: true } }, async () => {
    throw new Error('async handler failed')
  })
  // A handler that opens no Conn: only the direct way's own error listener guards its socket.
  app.get('/fine', { websocket: true, config: { directUpgrade: true } }, (socket) => socket.send('fine'))
  const refused = (opts: object) => () => app.route({ method: 'GET', url: '/x', websocket: true, config: { directUpgrade: true }, handler: () => undefined, ...opts } as never)
  t.throws(refused({ url: '/x/:id' }), /cannot have a path with parameters/)
  t.throws(refused({ onRequest: (_q: unknown, _r: unknown, done: () => void) => done() }), /cannot have hooks/)
  t.throws(refused({ onResponse: (_q: unknown, _r: unknown, done: () => void) => done() }), /cannot have hooks/)
  t.throws(refused({ method: ['GET', 'HEAD'] }), /a method other than GET alone/)
  t.throws(refused({ schema: { querystring: { type: 'object' } } }), /a schema for its query/)
  t.throws(refused({ constraints: { host: 'example.com' } }), /constraints/)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const url = `ws://127.0.0.1:${port}`
  const closed = async (path: string) => {
    const c = new WebSocket(`${url}${path}`)
    c.on('error', () => undefined) // the 101 may still be corked when the socket is terminated
    return new Promise<number>((resolve) => c.once('close', resolve))
  }

  t.equal(await closed('/boom'), 1006, 'a throwing handler: the socket is terminated')
  t.equal(await closed('/async-boom'), 1006, 'a rejecting handler too')
  const errors = logs.map((l) => JSON.parse(l) as { msg: string; reqId?: string; err?: { message: string } }).filter((l) => l.msg === 'websocket error')
  t.same(errors.map((l) => [l.err?.message, l.reqId?.slice(0, 3)]), [['handler failed', 'ws-'], ['async handler failed', 'ws-']], 'both logged, with the direct way\'s request ids')

  // A frame without a mask is a protocol error ws reports as an 'error' on the socket.
  const raw = connect(port, '127.0.0.1')
  await new Promise<void>((resolve) => raw.once('connect', resolve))
  raw.write('GET /fine HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  await new Promise((resolve) => raw.once('data', resolve))
  raw.write(Buffer.from([0x81, 0x02, 0x68, 0x69])) // unmasked "hi"
  await new Promise((resolve) => raw.once('close', resolve))
  t.ok(logs.some((l) => /"msg":"websocket error"/.test(l) && /MASK must be set/.test(l)), 'a malformed frame is logged and ends that socket')

  const fine = new WebSocket(`${url}/fine`)
  t.equal(String(await new Promise((resolve) => fine.once('message', resolve))), 'fine', 'and the process serves the next handshake')
  fine.close()
  t.equal(await WsTestClient.refusal(`${url}/fine/`), 404, 'without ignoreTrailingSlash, /fine/ is not /fine (Fastify answers)')
})
