// Isolation: an exception injected into any handler reaches only its own connection — the
// dialect's error message where SPEC has one, else close 1011 — while a second client on the
// same surface is unaffected and the process keeps serving. Then, with the real process: an
// unhandled rejection (a walker's stray timer) is logged and counted and the process serves on.
import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { startApp, type TestApp } from '../helpers/app.ts'
import { fixtureDir, postJson, waitUntil } from '../helpers/walkers.ts'
import { startServer } from '../helpers/process.ts'
import { join, next, openChat } from '../helpers/fastchat.ts'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { greeted, intercept } from './harness.ts'
import type { Conn } from '../../src/transport/connections.ts'
import { echoConsumer } from '../../src/consumers/echo.ts'

const INJECTED = 'injected failure'

/** The server side of a client, found by the client id its greeting named. */
function connOf(app: TestApp, clientId: string): Conn {
  const conn = [...app.app.connections.connections()].find((c) => c.id === clientId)
  if (!conn) throw new Error(`no connection ${clientId}`)
  return conn
}

/** From now on this connection's every send throws: a handler failing half-way through its reply. */
function breakSends(conn: Conn): void {
  conn.send = () => {
    throw new Error(INJECTED)
  }
}

interface Row {
  name: string
  path: string
  /** Connect a client: resolves with it and its client id once it is ready. */
  open(app: TestApp): Promise<{ client: WsTestClient; id: string }>
  /** A request and the reply that proves a connection works. */
  request: unknown
  answered(reply: { [k: string]: unknown }): boolean
}

/** Open `path` and read the client id from its greeting. */
const withId = (path: string) => async (app: TestApp) => {
  const { client, greeting } = await greeted(path)(app)
  return { client, id: (greeting.client_id ?? greeting.data.client_id) as string }
}

const rows: Row[] = [
  { name: '/ws echo (a synchronous handler)', path: '/ws', open: withId('/ws'), request: { type: 'probe' }, answered: (m) => m.type === 'echo' },
  { name: '/ws/echo smoke dialect', path: '/ws/echo', open: withId('/ws/echo'), request: { type: 'probe' }, answered: (m) => m.type === 'echo' },
  { name: '/ws/echo action dialect (queued behind the session)', path: '/ws/echo', open: withId('/ws/echo'), request: { action: 'ping' }, answered: (m) => m.action === 'pong' },
  { name: '/ws/health', path: '/ws/health', open: withId('/ws/health'), request: { type: 'get_status' }, answered: (m) => m.type === 'health_status' },
  {
    name: 'walker over WebSocket (an asynchronous handler)',
    path: '/ws/PingPong',
    async open(app) {
      // Walker sockets get no greeting naming their id: the new one in the registry is theirs.
      const before = new Set([...app.app.connections.connections()].map((c) => c.id))
      const client = await app.connect('/ws/PingPong')
      const id = [...app.app.connections.connections()].map((c) => c.id).find((x) => !before.has(x))!
      return { client, id }
    },
    request: {},
    answered: (m) => m.ok === true
  }
]

t.test('a handler that throws while answering: that connection closes 1011, the other is served, the process serves on', async (t) => {
  const app = await startApp()
  t.teardown(app.close)
  for (const row of rows) {
    await t.test(row.name, async (t) => {
      const victim = await row.open(app)
      const other = await row.open(app)
      breakSends(connOf(app, victim.id))
      const logged = app.logs.length
      victim.client.send(row.request)
      t.same(await victim.client.expectClose(1011), { code: 1011, reason: 'internal error' })
      other.client.send(row.request)
      t.ok(row.answered(await other.client.waitFor(row.answered)), 'the other client is served')
      const line = app.logs.slice(logged).map((l) => JSON.parse(l)).find((l) => l.msg === 'handler failed; closing with 1011')
      t.equal(line?.err?.message, INJECTED, 'the failure is logged with its cause')
      app.logs.length = logged // expected errors, not left for the checks below
    })
  }
})

t.test('FastChat: a domain handler that rejects ends only that user\'s connection; presence and chats go on', async (t) => {
  const app = await startApp()
  t.teardown(app.close)
  const alice = await join(app, 'Alice')
  const bob = await join(app, 'Bob')
  const mallory = await join(app, 'Mallory')
  await openChat(alice, bob)
  intercept(t, app.app.chat, 'dispatch', (dispatch) => async (session, msg) => {
    if (session.user?.user_id === mallory.user_id) throw new Error(INJECTED)
    return dispatch(session, msg)
  })
  mallory.client.send({ type: 'PING', data: {} })
  t.same(await mallory.client.expectClose(1011), { code: 1011, reason: 'internal error' })
  await waitUntil(() => !app.app.presence.isOnline(mallory.user_id), 'Mallory to leave presence')
  alice.client.send({ type: 'MSG', data: { to: bob.user_id, content: 'still fine', message_id: 'iso-1' } })
  t.same(await next(alice.client, 'MSG_ACK'), { type: 'MSG_ACK', data: { message_id: 'iso-1', status: 'delivered' } })
  t.equal((await next(bob.client, 'MSG')).data.content, 'still fine')
})

t.test('a consumer action that throws answers the dialect\'s error and the connection stays open', async (t) => {
  const app = await startApp()
  t.teardown(app.close)
  intercept(t, echoConsumer.def.actions.echo!, 'handle', (handle) => (payload, ctx) => {
    if (payload === 'boom') throw new Error(INJECTED)
    return handle(payload, ctx)
  })
  const c = await app.connect('/ws/echo')
  await c.receiveJson()
  c.send({ action: 'echo', payload: 'boom' })
  t.same(await c.receiveAllUntilComplete(), [{ action: 'error', payload: { detail: 'Failed to process message' } }])
  c.send({ action: 'echo', payload: 'fine' })
  t.same(await c.receiveAllUntilComplete(), [{ action: 'echo', payload: 'anonymous: fine' }])
  app.logs.length = 0
})

t.test('walkers that throw: EXECUTION_ERROR to the caller only, over WebSocket and HTTP', async (t) => {
  const app = await startApp({ WALKERS_DIR: fixtureDir() })
  t.teardown(app.close)
  const victim = await app.connect('/ws/Throws')
  const other = await app.connect('/ws/Count')
  victim.send({})
  t.same(await victim.receiveJson(), { ok: false, error: { code: 'EXECUTION_ERROR', message: 'Walker execution failed' } })
  victim.send({})
  t.same(await victim.receiveJson(), { ok: false, error: { code: 'EXECUTION_ERROR', message: 'Walker execution failed' } }, 'the socket stays open')
  other.send({ n: 2 })
  t.same(await other.receiveJson(), { ok: true, data: { reports: [0, 1] } }, 'another walker socket is served')
  const r = await postJson(`${app.http}/walker/HttpThrows`, {})
  t.same([r.status, r.json], [500, { ok: false, error: { code: 'EXECUTION_ERROR', message: 'Walker execution failed' } }])
  t.equal((await fetch(`${app.http}/health`)).status, 200, 'the process serves on')
})

t.test('the metrics observer throwing costs nothing: the frame is still handled, the failure logged', async (t) => {
  const app = await startApp()
  t.teardown(app.close)
  intercept(t, app.app.connections.observer!, 'frame', (frame) => (surface, direction, label) => {
    if (label === 'text') throw new Error(INJECTED)
    frame(surface, direction, label)
  })
  const victim = await app.connect('/ws')
  await victim.receiveJson()
  victim.send('poison')
  t.equal(await victim.receiveText(), 'poison', 'the frame was handled and its echo sent')
  t.ok(victim.isOpen)
  t.ok(app.logs.some((l) => JSON.parse(l).msg === 'connection observer failed'), 'logged')
  app.logs.length = 0
})

t.test('a heartbeat that throws for one connection closes it 1011; the others keep their heartbeats', async (t) => {
  const app = await startApp({ WS_PING_INTERVAL: 0.4, WS_PING_TIMEOUT: 0.2 })
  t.teardown(app.close)
  const victim = await app.connect('/ws/health')
  const vid = (await victim.receiveJson()).client_id
  const other = await app.connect('/ws/health')
  await other.receiveJson()
  // The raw socket is the transport's own; reached here only to make its ping throw.
  const { socket } = connOf(app, vid) as unknown as { socket: { ping(): void } }
  socket.ping = () => {
    throw new Error(INJECTED)
  }
  t.same(await victim.expectClose(1011, { timeout: 3000 }), { code: 1011, reason: 'internal error' })
  const beats = await other.receiveUntil((m: { type: string }) => m.type === 'heartbeat', { timeout: 3000 })
  t.equal(beats.at(-1)?.type, 'heartbeat', 'the other connection still gets heartbeats')
  app.logs.length = 0
})

// ---------------------------------------------------------------- the real process

const STRAY = `// Test walker: answers, and leaves a rejected promise nobody handles (a stray timer).
export default {
  name: 'StrayRejection', protocol: 'websocket', public: true,
  async run(_fields, ctx) {
    setTimeout(() => Promise.reject(new Error('injected stray rejection')), 5)
    ctx.report({ scheduled: true })
  }
}
`
const THROWS_LATER = `// Test walker: answers, and throws from a timer afterwards: an uncaught exception.
export default {
  name: 'ThrowsLater', protocol: 'websocket', public: true,
  async run(_fields, ctx) {
    setTimeout(() => { throw new Error('injected uncaught exception') }, 5)
    ctx.report({ scheduled: true })
  }
}
`

t.test('real process: an unhandled rejection is logged and counted, and the process keeps serving', async (t) => {
  const dir = await mkdtemp(joinPath(tmpdir(), 'switchboard-walkers-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(joinPath(dir, 'StrayRejection.mjs'), STRAY)
  await writeFile(joinPath(dir, 'ThrowsLater.mjs'), THROWS_LATER)
  const server = await startServer({ WALKERS_DIR: dir, SHUTDOWN_GRACE_MS: '3000' })
  t.teardown(() => server.proc.kill('SIGKILL'))
  const url = (path: string) => `ws://127.0.0.1:${server.port}${path}`

  const bystander = await WsTestClient.connect(url('/ws/echo'))
  await bystander.receiveJson()
  const c = await WsTestClient.connect(url('/ws/StrayRejection'))
  for (let i = 0; i < 3; i++) {
    c.send({})
    t.same(await c.receiveJson(), { ok: true, data: { reports: [{ scheduled: true }] } })
  }
  await waitUntil(() => (server.output().match(/unhandled promise rejection; the process keeps serving/g) ?? []).length === 3, 'three logged rejections')
  const line = server.output().split('\n').find((l) => l.includes('unhandled promise rejection'))!
  t.match(JSON.parse(line), { level: 50, err: { message: 'injected stray rejection', stack: /Error: injected stray rejection/ } }, 'logged at error level with its stack')
  const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
  t.match(metrics, /^switchboard_unhandled_rejections_total 3$/m, 'counted')
  c.send({})
  t.same(await c.receiveJson(), { ok: true, data: { reports: [{ scheduled: true }] } }, 'the same socket is still served')
  bystander.send({ type: 'still' })
  t.same((await bystander.receiveJson()).original, { type: 'still' }, 'and every other one')
  t.equal(server.proc.exitCode, null, 'the process is running')

  // An uncaught exception is another matter: Node's state may be inconsistent after one, so
  // the process drains gracefully (1001 to every client) and exits 1 for its supervisor.
  const doomed = await WsTestClient.connect(url('/ws/ThrowsLater'))
  doomed.send({})
  t.same(await doomed.receiveJson(), { ok: true, data: { reports: [{ scheduled: true }] } })
  t.same(await bystander.expectClose(undefined, { timeout: 5000 }), { code: 1001, reason: 'server shutting down' }, 'clients are told 1001')
  t.same(await server.exited, { code: 1, signal: null }, 'exit 1')
  t.match(server.output(), /injected uncaught exception/, 'the exception is logged')
})
