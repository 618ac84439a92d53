// The real process: startup config errors, and SIGTERM draining open sockets.
import t from 'tap'
import { connect } from 'node:net'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { runServer, startServer } from './helpers/process.ts'

t.test('bad config stops startup with one line naming the variable', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ PORT: 'abc' }, /^switchboard: invalid configuration: PORT=abc: must be an integer from 0 to 65535 /],
    [{ WS_PING_INTERVAL: '5', WS_PING_TIMEOUT: '5' }, /^switchboard: invalid configuration: WS_PING_TIMEOUT=5: must be below WS_PING_INTERVAL \(5\)/],
    [{ LOG_LEVEL: 'loud' }, /^switchboard: invalid configuration: LOG_LEVEL=loud/]
  ]
  for (const [env, pattern] of cases) {
    const s = runServer(env)
    const { code } = await s.exited
    t.not(code, 0, `${JSON.stringify(env)} exits non-zero`)
    const lines = s.output().trim().split('\n')
    t.equal(lines.length, 1, 'one line')
    t.match(lines[0], pattern)
  }
})

t.test('SIGTERM with 50 open sockets: every client sees 1001, exit 0 within the grace', async (t) => {
  const server = await startServer({ SHUTDOWN_GRACE_MS: '5000' })
  const paths = ['/ws', '/ws/echo', '/ws/health']
  const clients = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    WsTestClient.connect(`ws://127.0.0.1:${server.port}${paths[i % 3]}`)))
  await Promise.all(clients.map((c) => c.receiveJson()))
  const started = Date.now()
  server.proc.kill('SIGTERM')
  const closes = await Promise.all(clients.map((c) => c.expectClose(undefined, { timeout: 5000 })))
  t.same([...new Set(closes.map((c) => c.code))], [1001], 'all 50 closed with 1001')
  t.same([...new Set(closes.map((c) => c.reason))], ['server shutting down'])
  const { code } = await server.exited
  t.equal(code, 0, 'exit code 0')
  t.ok(Date.now() - started < 5000, `exited in ${Date.now() - started} ms, within the grace`)
})

t.test('SIGTERM with HTTP connections that never finished a request (a preconnect, a body still arriving): exit 0 within the grace', async (t) => {
  const server = await startServer({ SHUTDOWN_GRACE_MS: '1500' })
  const silent = connect(server.port, '127.0.0.1') // a browser's preconnect: no byte sent
  const trickle = connect(server.port, '127.0.0.1')
  for (const s of [silent, trickle]) s.on('error', () => {})
  await Promise.all([silent, trickle].map((s) => new Promise((resolve) => s.once('connect', resolve))))
  trickle.write('POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":') // and never the rest
  const client = await WsTestClient.connect(`ws://127.0.0.1:${server.port}/ws`)
  await client.receiveJson()
  const started = Date.now()
  server.proc.kill('SIGTERM')
  t.equal((await client.expectClose(undefined, { timeout: 3000 })).code, 1001)
  const { code } = await server.exited
  t.equal(code, 0, 'exit code 0, not the watchdog\'s 1')
  t.ok(Date.now() - started < 2500, `exited in ${Date.now() - started} ms: the grace (1.5 s) and no more`)
  t.notMatch(server.output(), /killed by timeout/)
})
