// WS /ws/:walker over real sockets (SPEC section 6, issue 4's acceptance list): the shipped
// examples, auth, close codes, validation, failures, timeouts, ordering and broadcast.
import t from 'tap'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { startApp } from './helpers/app.ts'
import { noneToken, signToken, TEST_SECRET } from './helpers/tokens.ts'
import { fixtureDir, waitUntil } from './helpers/walkers.ts'
import { WalkerEnvelope } from '../src/protocol/walker.ts'
import { MAX_QUEUED_MESSAGES } from '../src/walkers/session.ts'
import { hangProbe } from './fixtures/walkers/Hangs.ts'

const envelope = TypeCompiler.Compile(WalkerEnvelope)
const ok = (...reports: unknown[]) => ({ ok: true, data: { reports } })
const UNAUTHORIZED = { ok: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or missing token' } }
const EXECUTION_ERROR = { ok: false, error: { code: 'EXECUTION_ERROR', message: 'Walker execution failed' } }

t.test('EchoMessage: exact envelope, three messages in order, client_id defaults to anonymous', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/EchoMessage')
  c.send({ message: 'hello', client_id: 'test-1' })
  t.equal(await c.receiveText(), '{"ok":true,"data":{"reports":[{"echo":"hello","client_id":"test-1"}]}}')

  for (const m of ['one', 'two', 'three']) c.send({ message: m, client_id: 'c' })
  t.same(await c.receiveJson(), ok({ echo: 'one', client_id: 'c' }))
  t.same(await c.receiveJson(), ok({ echo: 'two', client_id: 'c' }))
  t.same(await c.receiveJson(), ok({ echo: 'three', client_id: 'c' }))

  c.send({ message: 'no id' })
  const reply = await c.receiveJson()
  t.same(reply, ok({ echo: 'no id', client_id: 'anonymous' }))
  t.ok(envelope.Check(reply), 'the reply matches the WalkerEnvelope schema')
  t.equal(s.app.connections.count('walker'), 1, 'the socket is registered on the walker surface')
})

t.test('walker fields named frame and status are input like any other, not a reply to send back', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/EchoMessage')
  c.send({ frame: 'not from the server', status: 200 })
  const reply = await c.receiveJson()
  t.equal(reply.ok, false, 'refused as fields the walker does not have')
  t.equal(reply.error.code, 'VALIDATION')
  t.ok(envelope.Check(reply), 'a walker envelope, not the client\'s own text')
})

t.test('PingPong answers {} with a pong', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/PingPong')
  c.send({})
  t.equal(await c.receiveText(), '{"ok":true,"data":{"reports":[{"status":"pong"}]}}')
  c.send({})
  t.same(await c.receiveJson(), ok({ status: 'pong' }))
})

t.test('SecureChat: UNAUTHORIZED keeps the socket open; a payload token authenticates the connection', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(s.close)
  const c = await s.connect('/ws/SecureChat')
  c.send({ message: 'hi' })
  t.equal(await c.receiveText(), '{"ok":false,"error":{"code":"UNAUTHORIZED","message":"Invalid or missing token"}}')
  t.ok(c.isOpen, 'still open after UNAUTHORIZED')

  c.send({ message: 'hi', token: await signToken({ sub: 'alice', name: 'Alice' }) })
  t.same(await c.receiveJson(), ok({ echo: 'hi', authenticated: true }))
  c.send({ message: 'again, no token' })
  t.same(await c.receiveJson(), ok({ echo: 'again, no token', authenticated: true }), 'the connection stays authenticated')
})

t.test('SecureChat accepts the handshake token: ?token=, bearer header, cookie', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'debug' })
  t.teardown(s.close)
  const token = await signToken({ sub: 'bob' })
  for (const [how, path, headers] of [
    ['query', `/ws/SecureChat?token=${token}`, {}],
    ['bearer', '/ws/SecureChat', { authorization: `Bearer ${token}` }],
    ['cookie', '/ws/SecureChat', { cookie: `theme=dark; token=${token}` }]
  ] as const) {
    const c = await s.connect(path, { headers })
    c.send({ message: how })
    t.same(await c.receiveJson(), ok({ echo: how, authenticated: true }), `token by ${how}`)
  }
  t.ok(s.logs.some((l) => l.includes('/ws/SecureChat')), 'requests are logged (by path)')
  t.notOk(s.logs.join('').includes(token), 'the token never reaches a log line')
})

t.test('expired, wrong-secret and alg:none tokens all get the same UNAUTHORIZED', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(s.close)
  const bad = {
    expired: await signToken({ sub: 'alice' }, { ttl: Math.floor(Date.now() / 1000) - 60 }),
    'wrong secret': await signToken({ sub: 'alice' }, { secret: 'another-secret-that-is-long-enough!!' }),
    'alg none': noneToken('alice'),
    'not a string': 42
  }
  const c = await s.connect('/ws/SecureChat')
  for (const [what, token] of Object.entries(bad)) {
    c.send({ message: 'x', token })
    t.same(await c.receiveJson(), UNAUTHORIZED, `${what} in the payload`)
  }
  for (const [what, token] of Object.entries(bad)) {
    if (typeof token !== 'string') continue
    const h = await s.connect(`/ws/SecureChat?token=${token}`)
    h.send({ message: 'x' })
    t.same(await h.receiveJson(), UNAUTHORIZED, `${what} in the handshake`)
    t.ok(h.isOpen)
  }
  // After the failures, a good token still works on the same socket.
  c.send({ message: 'finally', token: await signToken({ sub: 'alice' }) })
  t.same(await c.receiveJson(), ok({ echo: 'finally', authenticated: true }))
})

t.test('a connection authenticated by a token is closed with 1008 when the token expires; a newer token extends it', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(s.close)
  const exp = Math.floor(Date.now() / 1000) + 2
  const c = await s.connect(`/ws/SecureChat?token=${await signToken({ sub: 'alice' }, { ttl: exp })}`)
  c.send({ message: 'before' })
  t.same(await c.receiveJson(), ok({ echo: 'before', authenticated: true }))
  t.same(await c.expectClose(1008, { timeout: 4000 }), { code: 1008, reason: 'token expired' }, 'closed, not kept with a stale identity')
  t.ok(Date.now() >= exp * 1000 - 5, 'not before the token expired')

  const renewed = await s.connect(`/ws/SecureChat?token=${await signToken({ sub: 'alice' }, { ttl: Math.floor(Date.now() / 1000) + 1 })}`)
  renewed.send({ message: 'renewed', token: await signToken({ sub: 'alice' }) })
  t.same(await renewed.receiveJson(), ok({ echo: 'renewed', authenticated: true }))
  await new Promise((r) => setTimeout(r, 1500))
  renewed.send({ message: 'still here' })
  t.same(await renewed.receiveJson(), ok({ echo: 'still here', authenticated: true }), 'the newer token replaced the first one and its expiry')
})

t.test('unknown walker closes 4004, a non-websocket walker 4000; static routes win', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  for (const name of ['Nope', '__proto__', 'constructor', 'echomessage']) {
    const c = await s.connect(`/ws/${name}`)
    t.same(await c.expectClose(4004), { code: 4004, reason: 'Walker not found' }, `/ws/${name}`)
  }
  for (const name of ['Greeting', 'WhoAmI', 'ReceiveEvent']) {
    const c = await s.connect(`/ws/${name}`)
    t.same(await c.expectClose(4000), { code: 4000, reason: 'Walker is not configured as WebSocket' }, `/ws/${name}`)
  }
  const echo = await s.connect('/ws/echo')
  t.equal((await echo.receiveJson()).type, 'welcome', '/ws/echo is still the echo surface')
  const trailing = await s.connect('/ws/PingPong/')
  trailing.send({})
  t.same(await trailing.receiveJson(), ok({ status: 'pong' }), 'a trailing slash is tolerated')
})

t.test('wrong field type, unknown field, bad JSON: VALIDATION, and the socket stays open', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/EchoMessage')
  c.send({ message: 42 })
  t.equal(await c.receiveText(), '{"ok":false,"error":{"code":"VALIDATION","message":"Invalid walker fields","details":[{"path":"/message","message":"Expected string"}]}}')
  c.send({ message: 'x', colour: 'red' })
  t.same(await c.receiveJson(), {
    ok: false, error: { code: 'VALIDATION', message: 'Invalid walker fields', details: [{ path: '/colour', message: 'Unexpected property' }] }
  })
  c.send({})
  t.same(await c.receiveJson(), {
    ok: false, error: { code: 'VALIDATION', message: 'Invalid walker fields', details: [{ path: '/message', message: 'Expected required property' }, { path: '/message', message: 'Expected string' }] }
  })
  c.send('{"message": ')
  const bad = await c.receiveJson()
  t.match(bad, { ok: false, error: { code: 'VALIDATION', message: 'Invalid JSON', details: [{ path: '' }] } })
  t.type(bad.error.details[0].message, 'string')
  for (const notObject of ['[1,2]', '"hello"', '42', 'null']) {
    c.send(notObject)
    t.same(await c.receiveJson(), {
      ok: false, error: { code: 'VALIDATION', message: 'Expected a JSON object of walker fields', details: [{ path: '', message: 'Expected object' }] }
    }, notObject)
  }
  c.sendBinary(Buffer.from('{"message":"bin"}'))
  t.same(await c.receiveJson(), {
    ok: false, error: { code: 'VALIDATION', message: 'Binary frames are not supported', details: [{ path: '', message: 'Expected a text frame' }] }
  })
  c.send({ message: '{"__proto__":{"polluted":1}}' })
  t.same(await c.receiveJson(), ok({ echo: '{"__proto__":{"polluted":1}}', client_id: 'anonymous' }))
  c.send('{"message":"p","__proto__":{"client_id":"evil"}}')
  t.same(await c.receiveJson(), ok({ echo: 'p', client_id: 'anonymous' }), '__proto__ keys are dropped, not merged')
  t.ok(c.isOpen)
})

t.test('the walker never sees `token`, and ctx.user carries the verified claims', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  const c = await s.connect('/ws/Inspect')
  c.send({ a: 1, token: await signToken({ sub: 'carol', name: 'Carol' }) })
  t.same(await c.receiveJson(), ok({ fields: { a: 1 }, user: { sub: 'carol', name: 'Carol' } }))
  const p = await s.connect('/ws/InspectPublic')
  p.send({ b: 2 })
  t.same(await p.receiveJson(), ok({ fields: { b: 2 }, user: null }), 'public walker, no token: user is null')
  p.send({ b: 3, token: 'garbage' })
  t.same(await p.receiveJson(), ok({ fields: { b: 3 }, user: null }), 'a bad token on a public walker is ignored')
})

t.test('a walker that throws: EXECUTION_ERROR without the stack; the stack is in the log', async (t) => {
  const s = await startApp({ WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  const c = await s.connect('/ws/Throws')
  c.send({})
  const text = await c.receiveText()
  t.equal(text, '{"ok":false,"error":{"code":"EXECUTION_ERROR","message":"Walker execution failed"}}')
  t.notMatch(text, /kaboom|stack|at /, 'nothing of the error reaches the client')
  const line = await waitUntil(() => s.logs.find((l) => l.includes('kaboom')), 'the error in the log')
  const entry = JSON.parse(line)
  t.equal(entry.walker, 'Throws')
  t.match(entry.err.stack, /Error: kaboom: walker failed on purpose\n\s+at /, 'the log has the stack')
  t.match(entry.client_id, /^walker_client_\d{13}_\d{5}$/)

  const b = await s.connect('/ws/BadReport')
  b.send({})
  t.same(await b.receiveJson(), EXECUTION_ERROR, 'an unserializable report is an execution error too')
  c.send({})
  t.same(await c.receiveJson(), EXECUTION_ERROR, 'and the socket keeps working')
})

t.test('a walker that hangs: EXECUTION_ERROR after WALKER_TIMEOUT_MS, its signal aborted', async (t) => {
  const s = await startApp({ WALKERS_DIR: fixtureDir(), WALKER_TIMEOUT_MS: 300 })
  t.teardown(s.close)
  const c = await s.connect('/ws/Hangs')
  const before = hangProbe.aborts.length
  const started = Date.now()
  c.send({})
  t.same(await c.receiveJson({ timeout: 3000 }), EXECUTION_ERROR)
  const elapsed = Date.now() - started
  t.ok(elapsed >= 290 && elapsed < 2000, `answered after the timeout (${elapsed} ms)`)
  t.match(hangProbe.aborts.slice(before), ['WalkerTimeoutError: walker Hangs passed 300 ms'])
  t.ok(s.logs.some((l) => l.includes('walker timed out')), 'the timeout is logged')

  const slow = await s.connect('/ws/Slow')
  slow.send({ tag: 'after' })
  t.same(await slow.receiveJson(), ok({ tag: 'after' }), 'other sockets are unaffected')
})

t.test('a client that disconnects aborts the running walker', async (t) => {
  const s = await startApp({ WALKERS_DIR: fixtureDir(), WALKER_TIMEOUT_MS: 10_000 })
  t.teardown(s.close)
  const c = await s.connect('/ws/Hangs')
  const started = hangProbe.started
  const before = hangProbe.aborts.length
  c.send({})
  await waitUntil(() => hangProbe.started > started, 'the walker to start')
  await c.close()
  await waitUntil(() => hangProbe.aborts.length > before, 'the abort')
  t.match(hangProbe.aborts.slice(before), ['Error: client disconnected'])
})

t.test('messages run one at a time: a slow first message is still answered first', async (t) => {
  const s = await startApp({ WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  const c = await s.connect('/ws/Slow')
  c.send({ tag: 'a', ms: 150 })
  c.send({ tag: 'b' })
  c.send('not json')
  c.send({ tag: 'c', ms: 30 })
  t.same(await c.receiveJson(), ok({ tag: 'a' }))
  t.same(await c.receiveJson(), ok({ tag: 'b' }))
  t.match(await c.receiveJson(), { ok: false, error: { code: 'VALIDATION' } })
  t.same(await c.receiveJson(), ok({ tag: 'c' }))

  const n = await s.connect('/ws/Count')
  n.send({ n: 3 })
  t.same(await n.receiveJson(), ok(0, 1, 2), 'every report, in order')
  n.send({ n: 0 })
  t.same(await n.receiveJson(), ok(), 'no reports is an empty list')
})

t.test('a burst keeps its order whatever answers each frame: token checks, refusals, async and sync walkers', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  const dave = await signToken({ sub: 'dave', name: 'Dave' })
  const c = await s.connect('/ws/InspectPublic')
  // Sent at once: the token checks are async, the refusals are answered without the walker.
  c.send({ a: 1, token: dave })
  c.send('not json')
  c.send({ b: 2 })
  c.sendBinary(Buffer.from('{}'))
  c.send({ c: 3, token: 5 })
  c.send({ d: 4, token: 'garbage' })
  c.send([1])
  c.send({ e: 5 })
  const dUser = { sub: 'dave', name: 'Dave' }
  t.same(await c.receiveJson(), ok({ fields: { a: 1 }, user: dUser }))
  t.match(await c.receiveJson(), { ok: false, error: { code: 'VALIDATION', message: 'Invalid JSON' } })
  t.same(await c.receiveJson(), ok({ fields: { b: 2 }, user: dUser }), 'the token of the frame before authenticated the connection')
  t.match(await c.receiveJson(), { ok: false, error: { code: 'VALIDATION', message: 'Binary frames are not supported' } })
  t.same(await c.receiveJson(), ok({ fields: { c: 3 }, user: dUser }), 'a token that is not a string changes nothing')
  t.same(await c.receiveJson(), ok({ fields: { d: 4 }, user: dUser }), 'nor does a bad one')
  t.match(await c.receiveJson(), { ok: false, error: { code: 'VALIDATION', details: [{ message: 'Expected object' }] } })
  t.same(await c.receiveJson(), ok({ fields: { e: 5 }, user: dUser }))

  // Plain's run() is not async: its replies are made at once, in order with the rest.
  const p = await s.connect('/ws/Plain')
  p.send({})
  p.send('{')
  p.send({})
  t.same(await p.receiveJson(), ok({ plain: true }))
  t.match(await p.receiveJson(), { ok: false, error: { code: 'VALIDATION' } })
  t.same(await p.receiveJson(), ok({ plain: true }))
  await p.expectNoMessage(50)
})

t.test('a shutdown drain waits for the running message and the ones queued behind it', async (t) => {
  const s = await startApp({ WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  const c = await s.connect('/ws/Slow')
  c.send({ tag: 'running', ms: 200 })
  c.send({ tag: 'queued' })
  await new Promise((resolve) => setTimeout(resolve, 50))
  const drained = s.app.connections.closeAll(5000)
  t.same(await c.receiveJson(), ok({ tag: 'running' }))
  t.same(await c.receiveJson(), ok({ tag: 'queued' }), 'the queued message was answered too')
  t.same(await c.expectClose(), { code: 1001, reason: 'server shutting down' }, 'and only then the socket closed')
  await drained
})

t.test(`more than ${MAX_QUEUED_MESSAGES} waiting messages close the socket with 1008`, async (t) => {
  const s = await startApp({ WALKERS_DIR: fixtureDir(), WALKER_TIMEOUT_MS: 5000 })
  t.teardown(s.close)
  const c = await s.connect('/ws/Hangs')
  for (let i = 0; i <= MAX_QUEUED_MESSAGES; i++) c.send({})
  t.same(await c.expectClose(1008), { code: 1008, reason: 'too many messages waiting' })
})

t.test('broadcast walker: two clients, one sends, both receive; errors stay with the sender', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const [a, b, other] = await Promise.all([s.connect('/ws/Announce'), s.connect('/ws/Announce'), s.connect('/ws/EchoMessage')])
  a.send({ message: 'hello room', from: 'a' })
  const expected = '{"ok":true,"data":{"reports":[{"from":"a","message":"hello room"}]}}'
  t.equal(await a.receiveText(), expected, 'the sender receives it')
  t.equal(await b.receiveText(), expected, 'the other client receives it')
  b.send({ message: '' })
  t.match(await b.receiveJson(), { ok: false, error: { code: 'VALIDATION', details: [{ path: '/message' }] } })
  await a.expectNoMessage(150)
  await other.expectNoMessage(50)

  await b.close()
  a.send({ message: 'alone now' })
  t.same(await a.receiveJson(), ok({ from: 'anonymous', message: 'alone now' }))
})

t.test('an authenticated broadcast walker reaches only authenticated sockets', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  const alice = await s.connect(`/ws/SecureRoom?token=${await signToken({ sub: 'alice' })}`)
  const bob = await s.connect(`/ws/SecureRoom?token=${await signToken({ sub: 'bob' })}`)
  const anon = await s.connect('/ws/SecureRoom')
  // The handshake token is verified before the first message runs: let bob's settle.
  bob.send({ message: 'bob here' })
  t.same(await bob.receiveJson(), ok({ message: 'bob here', from: 'bob' }))
  t.same(await alice.receiveJson(), ok({ message: 'bob here', from: 'bob' }))
  anon.send({ message: 'let me in' })
  t.same(await anon.receiveJson(), UNAUTHORIZED)
  await anon.expectNoMessage(150)
})
