// POST /walker/:name, POST /webhook/:name and the OpenAPI document at /docs (SPEC section 6),
// over real HTTP.
import t from 'tap'
import { startApp } from './helpers/app.ts'
import { noneToken, signToken, TEST_SECRET } from './helpers/tokens.ts'
import { fixtureDir, postJson, waitUntil } from './helpers/walkers.ts'
import { webhookSignature } from '../src/walkers/webhook-auth.ts'
import { hangProbe } from './fixtures/walkers/Hangs.ts'

const ok = (...reports: unknown[]) => ({ ok: true, data: { reports } })
const UNAUTHORIZED = { ok: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or missing token' } }
const WEBHOOK_SECRET = 'whsec-test-0123456789'
const API_KEY = 'key-one'

t.test('HTTP walker: 200, 400, 401, 404 with the walker envelope', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'debug' })
  t.teardown(s.close)
  const url = (name: string) => `${s.http}/walker/${name}`

  let r = await postJson(url('Greeting'), { name: 'Ada', excited: true })
  t.equal(r.status, 200)
  t.equal(r.text, '{"ok":true,"data":{"reports":[{"greeting":"Hello, Ada!"}]}}')
  r = await postJson(url('Greeting'), {})
  t.same([r.status, r.json], [200, ok({ greeting: 'Hello, world.' })], 'defaults fill omitted fields')
  r = await postJson(url('Greeting'))
  t.same([r.status, r.json], [200, ok({ greeting: 'Hello, world.' })], 'no body at all is {}')
  r = await postJson(`${url('Greeting')}/`, { name: 'slash' })
  t.same([r.status, r.json], [200, ok({ greeting: 'Hello, slash.' })], 'trailing slash')

  r = await postJson(url('Greeting'), { name: 5, extra: true })
  t.equal(r.status, 400)
  t.same(r.json, {
    ok: false,
    error: { code: 'VALIDATION', message: 'Invalid walker fields', details: [{ path: '/extra', message: 'Unexpected property' }, { path: '/name', message: 'Expected string' }] }
  })
  r = await postJson(url('Greeting'), '{"name": "unterminated')
  t.equal(r.status, 400)
  t.match(r.json, { ok: false, error: { code: 'VALIDATION', message: 'Invalid JSON', details: [{ path: '' }] } })
  r = await postJson(url('Greeting'), { frame: 'not from the server', status: 1 })
  t.same([r.status, r.json.error.code], [400, 'VALIDATION'], 'fields named frame and status are input, not a reply')
  r = await postJson(url('Greeting'), '[1]')
  t.same([r.status, r.json.error.message], [400, 'Expected a JSON object of walker fields'])
  r = await postJson(url('Greeting'), 'name=x', { 'content-type': 'application/x-www-form-urlencoded' })
  t.same([r.status, r.json], [415, { ok: false, error: { code: 'VALIDATION', message: 'Content-Type must be application/json', details: [] } }])

  r = await postJson(url('WhoAmI'), {})
  t.same([r.status, r.json], [401, UNAUTHORIZED])
  for (const [what, token] of [
    ['expired', await signToken({ sub: 'alice' }, { ttl: Math.floor(Date.now() / 1000) - 60 })],
    ['wrong secret', await signToken({ sub: 'alice' }, { secret: 'another-secret-that-is-long-enough!!' })],
    ['alg none', noneToken('alice')]
  ] as const) {
    r = await postJson(url('WhoAmI'), {}, { authorization: `Bearer ${token}` })
    t.same([r.status, r.json], [401, UNAUTHORIZED], what)
  }
  const token = await signToken({ sub: 'alice', name: 'Alice' })
  r = await postJson(url('WhoAmI'), {}, { authorization: `Bearer ${token}` })
  t.same([r.status, r.json], [200, ok({ sub: 'alice', name: 'Alice' })])
  r = await postJson(url('WhoAmI'), undefined, { authorization: `Bearer ${token}` })
  t.same([r.status, r.json], [200, ok({ sub: 'alice', name: 'Alice' })])

  r = await postJson(url('Nope'), {})
  t.same([r.status, r.json], [404, { ok: false, error: { code: 'NOT_FOUND', message: 'Walker not found' } }])
  r = await postJson(url('EchoMessage'), { message: 'x' })
  t.same([r.status, r.json], [404, { ok: false, error: { code: 'NOT_FOUND', message: 'Walker is not configured as http' } }], 'websocket walkers are not reachable over HTTP')
  r = await postJson(url('ReceiveEvent'), { event: 'x' })
  t.equal(r.status, 404, 'nor are webhook walkers on /walker')
  r = await postJson(`${url('WhoAmI')}?token=${token}`, {})
  t.equal(r.status, 200, '?token= on HTTP too')
  t.ok(s.logs.some((l) => l.includes('"url":"/walker/WhoAmI"')), 'requests are logged (by path)')
  t.notOk(s.logs.join('').includes(token), 'no token in the log')
})

t.test('HTTP walker: 500 on a throw, stack in the log only; the body token is stripped', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  let r = await postJson(`${s.http}/walker/HttpThrows`, {})
  t.equal(r.status, 500)
  t.equal(r.text, '{"ok":false,"error":{"code":"EXECUTION_ERROR","message":"Walker execution failed"}}')
  const line = await waitUntil(() => s.logs.find((l) => l.includes('http walker failed on purpose')), 'the error in the log')
  t.match(JSON.parse(line).err.stack, /TypeError: http walker failed on purpose\n\s+at /)

  const token = await signToken({ sub: 'dave', name: 'Dave' })
  r = await postJson(`${s.http}/walker/HttpInspect`, { a: 1, token })
  t.same([r.status, r.json], [200, ok({ fields: { a: 1 }, user: { sub: 'dave', name: 'Dave' } })])
  r = await postJson(`${s.http}/walker/HttpInspect?token=${token}`, { b: 2 })
  t.same([r.status, r.json], [200, ok({ fields: { b: 2 }, user: { sub: 'dave', name: 'Dave' } })], '?token= works as on WS')
})

t.test('HTTP walker: 500 after WALKER_TIMEOUT_MS; a client hanging up aborts ctx.signal', async (t) => {
  const s = await startApp({ WALKERS_DIR: fixtureDir(), WALKER_TIMEOUT_MS: 300 })
  t.teardown(s.close)
  let before = hangProbe.aborts.length
  const r = await postJson(`${s.http}/walker/HttpHangs`, {})
  t.same([r.status, r.json], [500, { ok: false, error: { code: 'EXECUTION_ERROR', message: 'Walker execution failed' } }])
  t.match(hangProbe.aborts.slice(before), ['WalkerTimeoutError: walker HttpHangs passed 300 ms'])

  const long = await startApp({ WALKERS_DIR: fixtureDir(), WALKER_TIMEOUT_MS: 10_000 })
  t.teardown(long.close)
  before = hangProbe.aborts.length
  const started = hangProbe.started
  const ac = new AbortController()
  const request = fetch(`${long.http}/walker/HttpHangs`, { method: 'POST', signal: ac.signal }).catch((err: Error) => err.name)
  await waitUntil(() => hangProbe.started > started, 'the walker to start')
  ac.abort()
  t.equal(await request, 'AbortError')
  await waitUntil(() => hangProbe.aborts.length > before, 'the abort')
  t.match(hangProbe.aborts.slice(before), ['Error: client disconnected'])
})

t.test('webhook: good signature 200; bad key or signature 401; signature over the raw bytes', async (t) => {
  const s = await startApp({ WEBHOOK_SECRET, WEBHOOK_API_KEYS: `other-key, ${API_KEY}` })
  t.teardown(s.close)
  const url = `${s.http}/webhook/ReceiveEvent`
  // Unusual spacing on purpose: re-serializing the parsed body would not reproduce these bytes.
  const body = '{ "event" :  "order.paid", "data": {"id": 7}, "extra": "providers add fields" }'
  const signed = (b: string, key = API_KEY) => ({ 'x-api-key': key, 'x-signature': webhookSignature(WEBHOOK_SECRET, b) })

  let r = await postJson(url, body, signed(body))
  t.equal(r.status, 200)
  t.equal(r.text, '{"ok":true,"data":{"reports":[{"received":"order.paid"}]}}')
  r = await postJson(url, body, signed(body, 'other-key'))
  t.equal(r.status, 200, 'any configured key')

  const WEBHOOK_UNAUTHORIZED = { ok: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or missing API key or signature' } }
  const refused: Array<[string, Record<string, string>]> = [
    ['wrong key', signed(body, 'nope')],
    ['key prefix', signed(body, 'key-on')],
    ['no key', { 'x-signature': webhookSignature(WEBHOOK_SECRET, body) }],
    ['no signature', { 'x-api-key': API_KEY }],
    ['wrong secret', { 'x-api-key': API_KEY, 'x-signature': webhookSignature('not-the-secret', body) }],
    ['signature of re-serialized JSON', { 'x-api-key': API_KEY, 'x-signature': webhookSignature(WEBHOOK_SECRET, JSON.stringify(JSON.parse(body))) }],
    ['malformed signature', { 'x-api-key': API_KEY, 'x-signature': 'sha256=xyz' }],
    ['bare hex', { 'x-api-key': API_KEY, 'x-signature': webhookSignature(WEBHOOK_SECRET, body).slice(7) }]
  ]
  for (const [what, headers] of refused) {
    r = await postJson(url, body, headers)
    t.same([r.status, r.json], [401, WEBHOOK_UNAUTHORIZED], what)
  }
  r = await postJson(`${s.http}/webhook/Nope`, body, signed(body))
  t.same([r.status, r.json.error.code], [404, 'NOT_FOUND'], 'unknown walker, after authentication')
  r = await postJson(`${s.http}/webhook/Nope`, body, signed(body, 'nope'))
  t.equal(r.status, 401, 'an unauthenticated caller cannot probe for names')
  r = await postJson(`${s.http}/webhook/Greeting`, body, signed(body))
  t.equal(r.status, 404, 'an http walker is not a webhook')
  const bad = '{"data": 1}'
  r = await postJson(url, bad, signed(bad))
  t.same([r.status, r.json.error], [400, { code: 'VALIDATION', message: 'Invalid walker fields', details: [{ path: '/event', message: 'Expected required property' }, { path: '/event', message: 'Expected string' }] }])
})

t.test('webhook: unset WEBHOOK_SECRET refuses everything and warns at startup', async (t) => {
  const s = await startApp({ WEBHOOK_API_KEYS: API_KEY })
  t.teardown(s.close)
  const body = '{"event":"x"}'
  const r = await postJson(`${s.http}/webhook/ReceiveEvent`, body, { 'x-api-key': API_KEY, 'x-signature': webhookSignature('', body) })
  t.equal(r.status, 401)
  t.ok(s.logs.some((l) => l.includes('every webhook request gets 401')))
})

t.test('/docs/json lists HTTP and webhook walkers with their fields, and no websocket walker', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const res = await fetch(`${s.http}/docs/json`)
  t.equal(res.status, 200)
  const doc = await res.json() as { openapi: string; paths: Record<string, Record<string, any>>; components: any } // eslint-disable-line @typescript-eslint/no-explicit-any
  t.equal(doc.openapi, '3.1.0')
  const paths = Object.keys(doc.paths)
  t.ok(paths.includes('/walker/Greeting') && paths.includes('/walker/WhoAmI') && paths.includes('/webhook/ReceiveEvent'), 'HTTP and webhook walkers are listed')
  for (const name of ['EchoMessage', 'PingPong', 'SecureChat', 'Announce']) {
    t.notOk(paths.some((p) => p.includes(name)), `${name} (websocket) is not`)
  }
  t.notOk(paths.some((p) => p.startsWith('/ws')), 'no WebSocket route is listed')
  t.notOk(paths.some((p) => p.includes('{name}') || p.startsWith('/docs')), 'nor the parametric routes or the docs themselves')
  t.ok(paths.includes('/health'), 'ordinary HTTP routes are')

  const greeting = doc.paths['/walker/Greeting']!.post
  t.same(greeting.requestBody.content['application/json'].schema, {
    additionalProperties: false,
    type: 'object',
    properties: {
      name: { default: 'world', minLength: 1, maxLength: 100, type: 'string' },
      excited: { default: false, type: 'boolean' }
    }
  }, 'the field schema, fields with defaults not required')
  t.same(greeting.security, [])
  t.same(Object.keys(greeting.responses).sort(), ['200', '400', '401', '404', '413', '415', '500'])
  t.same(doc.paths['/walker/WhoAmI']!.post.security, [{ bearerAuth: [] }])
  t.same(doc.paths['/webhook/ReceiveEvent']!.post.security, [{ webhookApiKey: [] }])
  t.same(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.match(doc.components.schemas.WalkerFailure, { type: 'object', required: ['ok', 'error'] })

  const ui = await fetch(`${s.http}/docs`)
  t.equal(ui.status, 200)
  t.match(ui.headers.get('content-type'), /text\/html/)
})
