// The library internals src/transport/upgrade-internals.ts reaches for, checked on real upgrades:
// a failure here names the library (ws, @fastify/websocket, Node) whose internals changed.
import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import type { Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { releaseUpgrade, takeUpgradeListeners, tcpStreamOf, type Released, type TcpStream } from '../../src/transport/upgrade-internals.ts'
import { startApp } from '../helpers/app.ts'

/** An assertion message naming the library whose change would make it fail. */
const ws = (expected: string) => `ws changed? expected ${expected}`
const fws = (expected: string) => `@fastify/websocket changed? expected ${expected}`
const node = (expected: string) => `Node (http/net) changed? expected ${expected}`

/** The Timeout Node keeps on a socket under the symbol described 'timeout', if any. */
function timeoutOf(stream: object): { present: boolean; value: { _idleTimeout?: number } | null | undefined } {
  const sym = Object.getOwnPropertySymbols(stream).find((s) => s.description === 'timeout')
  if (!sym) return { present: false, value: undefined }
  return { present: true, value: (stream as Record<symbol, { _idleTimeout?: number } | null | undefined>)[sym] }
}

interface Seen {
  /** Before release. */
  streamBefore: TcpStream | undefined
  responseBefore: boolean
  timerBefore: { present: boolean; idle: number | undefined }
  errorListenersBefore: number
  /** releaseUpgrade's report. */
  released: Released
  /** After release. */
  stream: TcpStream | undefined
  httpMessageAfter: unknown
  timerAfter: { present: boolean; value: unknown }
  errorListenersAfter: unknown[]
  onError: (this: WebSocket, err: Error) => void
}

t.test('releaseUpgrade on a bare Fastify + @fastify/websocket upgrade finds every internal', async (t) => {
  // connectionTimeout as src/app.ts sets it: Node arms a socket timeout that ws disarms on upgrade.
  const app = Fastify({ connectionTimeout: 30_000 })
  t.teardown(() => app.close())
  await app.register(websocket)
  let resolveSeen!: (seen: Seen) => void
  const seen = new Promise<Seen>((resolve) => (resolveSeen = resolve))
  app.get('/', { websocket: true }, (socket) => {
    const streamBefore = tcpStreamOf(socket)
    const raw = (socket as unknown as { _socket?: object })._socket ?? {}
    const timer = timeoutOf(raw)
    const responseBefore = typeof streamBefore?._httpMessage?.detachSocket === 'function'
    const errorListenersBefore = socket.listenerCount('error')
    const onError = function onError() {}
    const released = releaseUpgrade(socket, onError)
    const after = timeoutOf(raw)
    resolveSeen({
      streamBefore,
      responseBefore,
      timerBefore: { present: timer.present, idle: timer.value?._idleTimeout },
      errorListenersBefore,
      released,
      stream: tcpStreamOf(socket),
      httpMessageAfter: streamBefore?._httpMessage,
      timerAfter: after,
      errorListenersAfter: socket.listeners('error'),
      onError
    })
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const client = new WebSocket(`ws://127.0.0.1:${port}/`)
  t.teardown(() => client.terminate())
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve())
    client.once('error', reject)
  })
  const s = await seen

  // What the libraries leave on the socket before release.
  t.ok(s.streamBefore, ws('the TCP stream as WebSocket#_socket, with cork()'))
  t.ok(s.responseBefore, node('the upgrade\'s ServerResponse (assigned by @fastify/websocket) as socket._httpMessage, with detachSocket()'))
  t.ok(s.timerBefore.present, node('the socket\'s Timeout under a symbol described \'timeout\''))
  t.equal(s.timerBefore.idle, -1, node('_idleTimeout -1 on that Timeout once ws disarms it (setTimeout(0)) on upgrade'))
  t.equal(s.errorListenersBefore, 1, fws('exactly one \'error\' listener on the socket when the handler runs'))

  // The report: every false means a library changed under the transport.
  t.same(s.released, { stream: true, response: true, timer: true, errorListener: true }, 'releaseUpgrade\'s report: every field true (the field that is false names the library below)')
  t.equal(s.released.stream, true, ws('released.stream: WebSocket#_socket found'))
  t.equal(s.released.response, true, node('released.response: socket._httpMessage.detachSocket found'))
  t.equal(s.released.timer, true, node('released.timer: the disarmed Timeout found under the \'timeout\' symbol'))
  t.equal(s.released.errorListener, true, fws('released.errorListener: its request-capturing \'error\' listener found'))

  // What is left after release.
  t.equal(s.httpMessageAfter, null, node('ServerResponse#detachSocket to set socket._httpMessage to null'))
  t.equal(s.timerAfter.present, true, node('the \'timeout\' symbol still on the socket after release'))
  t.equal(s.timerAfter.value, null, node('the disarmed Timeout dropped (null) from the socket'))
  t.same(s.errorListenersAfter, [s.onError], fws('the \'error\' listeners after release to be exactly [onError]'))
  t.equal(s.errorListenersAfter[0], s.onError, fws('onError to be the only \'error\' listener'))

  // The stream the transport corks.
  t.ok(s.stream, ws('tcpStreamOf(socket) to find the TCP stream after release'))
  t.type(s.stream?.cork, 'function', node('cork() on the TCP stream'))
  t.type(s.stream?.uncork, 'function', node('uncork() on the TCP stream'))
  t.type(s.stream?.writableCorked, 'number', node('a writableCorked count on the TCP stream'))

  // And the socket still works.
  client.send('after release')
  const echoed = await new Promise<string>((resolve) => client.once('message', (d) => resolve(String(d))))
  t.equal(echoed, 'after release', ws('the released socket to still echo'))
})

t.test('through the app: sockets of both ways in are released and still work', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const tcp: Socket[] = []
  s.app.server.on('connection', (socket: Socket) => tcp.push(socket))
  // /ws comes in by the direct upgrade (no ServerResponse is ever made for it); a walker by
  // Fastify's route (@fastify/websocket assigns one, which release detaches).
  for (const [path, how] of [['/ws', 'direct'], ['/ws/EchoMessage', 'Fastify']] as const) {
    const c = await s.connect(path)
    if (path === '/ws') t.equal((await c.receiveJson()).type, 'WELCOME', '/ws greets first')
    else {
      c.send(JSON.stringify({ message: 'hi' }))
      t.ok(await c.receiveJson(), 'the walker answers')
    }
    const stream = tcp.at(-1)! as Socket & { _httpMessage?: unknown }
    if (how === 'direct') t.equal(stream._httpMessage, undefined, node(`the ${how} /ws TCP socket never to hold a ServerResponse`))
    else t.equal(stream._httpMessage, null, node(`the ${how} ${path} TCP socket to hold no upgrade ServerResponse (_httpMessage null)`))
    const timer = timeoutOf(stream)
    t.ok(timer.present, node(`a 'timeout' symbol on the ${path} TCP socket`))
    t.equal(timer.value, null, node(`the disarmed Timeout dropped from the ${path} TCP socket`))
    if (path === '/ws') {
      for (const text of ['hello', 'after release', 'héllo ✓']) {
        c.send(text)
        t.equal(await c.receiveText(), text, ws(`/ws to echo ${JSON.stringify(text)} after release`))
      }
      t.equal(stream.writableCorked, 0, node('the TCP stream not left corked after writes (writableCorked 0)'))
    }
    c.close()
  }
  t.equal(tcp.length, 2, 'one TCP connection each')
})

t.test('takeUpgradeListeners finds @fastify/websocket\'s listener on the HTTP server', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  const taken = takeUpgradeListeners(app.server)
  t.equal(taken.length, 1, fws('exactly one \'upgrade\' listener on the HTTP server'))
  t.equal(app.server.listenerCount('upgrade'), 0, 'taken off the server')
  t.throws(() => takeUpgradeListeners(app.server), /no longer listens/, 'none to take fails loudly')
})
