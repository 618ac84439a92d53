// Chaos: hostile input to walkers (SPEC section 6) over WebSocket (/ws/EchoMessage, public, and
// /ws/SecureChat, authenticated) and HTTP (POST /walker/Greeting, /webhook/…). Every failure
// is the walker envelope with the exact code; the socket stays open; over HTTP the status says it.
import t, { type Test } from 'tap'
import { runHttp, runSurface, type Case, type Frame, type HttpCase, type Surface } from './harness.ts'
import { CHARS, DEEP, deepArray, deepObject, LIMIT, manyItems, sized, transportRows } from './hostile.ts'
import { noneToken, signToken, TEST_SECRET } from '../helpers/tokens.ts'
import { stringifyJson } from '../../src/lib/json.ts'

const ok = (...reports: unknown[]) => ({ ok: true, data: { reports } })
const echo = (message: string, client_id = 'anonymous') => ok({ echo: message, client_id })
const fail = (code: string, message: string, details?: unknown[]) => ({ ok: false, error: details ? { code, message, details } : { code, message } })
const fields = (...details: [string, string][]) => fail('VALIDATION', 'Invalid walker fields', details.map(([path, message]) => ({ path, message })))
const NOT_AN_OBJECT = fail('VALIDATION', 'Expected a JSON object of walker fields', [{ path: '', message: 'Expected object' }])
const UNAUTHORIZED = fail('UNAUTHORIZED', 'Invalid or missing token')
const NOT_FOUND = fail('NOT_FOUND', 'Walker not found')

/** Bad JSON: VALIDATION "Invalid JSON" with the parser's complaint at path "" (its wording is V8's). */
const invalidJson = (frame: Frame, t: Test) => {
  t.equal(frame.ok, false)
  t.equal(frame.error.code, 'VALIDATION')
  t.equal(frame.error.message, 'Invalid JSON')
  t.equal(frame.error.details.length, 1)
  t.equal(frame.error.details[0].path, '')
  t.type(frame.error.details[0].message, 'string')
}
const badJson = { count: 1, assert: ([f]: Frame[], t: Test) => invalidJson(f, t) }

const ws: Case<undefined>[] = [
  { name: 'malformed JSON', send: '{"message":', expect: badJson },
  { name: 'truncated JSON', send: '{"message":"hel', expect: badJson },
  { name: 'a trailing comma', send: '{"message":"x",}', expect: badJson },
  { name: 'an empty frame', send: '', expect: badJson },
  { name: 'JSON that is not an object: an array', send: '[{"message":"x"}]', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'JSON that is not an object: a string', send: '"x"', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'JSON that is not an object: null', send: 'null', expect: { replies: [NOT_AN_OBJECT] } },
  { name: `message arrays nested ${DEEP} deep`, send: `{"message":${deepArray(DEEP)}}`, expect: { replies: [fields(['/message', 'Expected string'])] } },
  { name: 'an unknown field nested 8000 deep', send: `{"message":"x","d":${deepObject(8000)}}`, expect: { replies: [fields(['/d', 'Unexpected property'])] } },
  {
    name: 'a message just under the frame limit is echoed whole',
    send: sized('{"message":"%"}', LIMIT),
    expect: { count: 1, assert: ([f]: Frame[], t: Test) => t.equal(f.data.reports[0].echo.length, LIMIT - '{"message":""}'.length, 'the whole message came back') }
  },
  { name: 'an array of 16,000 items as the message', send: manyItems('{"message":[%]}', 16_000), expect: { replies: [fields(['/message', 'Expected string'])] } },
  { name: 'message a number', send: '{"message":5}', expect: { replies: [fields(['/message', 'Expected string'])] } },
  { name: 'message null', send: '{"message":null}', expect: { replies: [fields(['/message', 'Expected string'])] } },
  { name: 'client_id an array', send: '{"message":"x","client_id":[]}', expect: { replies: [fields(['/client_id', 'Expected string'])] } },
  { name: 'every field wrong at once', send: '{"message":{},"client_id":false}', expect: { replies: [fields(['/message', 'Expected string'], ['/client_id', 'Expected string'])] } },
  { name: 'message missing', send: '{}', expect: { replies: [fields(['/message', 'Expected required property'], ['/message', 'Expected string'])] } },
  { name: 'an unknown field', send: '{"message":"x","admin":true}', expect: { replies: [fields(['/admin', 'Unexpected property'])] } },
  {
    name: '6,000 unknown fields get at most 20 details',
    send: `{"message":"x",${Array.from({ length: 6000 }, (_, i) => `"k${i}":0`).join(',')}}`,
    expect: { count: 1, assert: ([f]: Frame[], t: Test) => t.equal(f.error.details.length, 20) }
  },
  { name: 'a __proto__ key is removed, not merged', send: '{"message":"x","__proto__":{"client_id":"admin"}}', expect: { replies: [echo('x')] } },
  { name: 'a constructor.prototype key is removed', send: '{"message":"x","constructor":{"prototype":{"client_id":"admin"}}}', expect: { replies: [echo('x')] } },
  { name: 'constructor as a plain key is an unknown field', send: '{"message":"x","constructor":1}', expect: { replies: [fields(['/constructor', 'Unexpected property'])] } },
  { name: 'prototype names as values are data', send: '{"message":"__proto__","client_id":"constructor"}', expect: { replies: [echo('__proto__', 'constructor')] } },
  { name: 'a token of the wrong type on a public walker is ignored', send: '{"message":"x","token":5}', expect: { replies: [echo('x')] } },
  { name: 'control characters, NUL and lone surrogates are data, JSON-escaped', send: stringifyJson({ message: `a${CHARS.nul}${CHARS.controls}${CHARS.loneHigh}` }), expect: { replies: [echo(`a${CHARS.nul}${CHARS.controls}${CHARS.loneHigh}`)] } },
  { name: 'RTL overrides and zero-width characters are data', send: stringifyJson({ message: `${CHARS.rtlOverride}x${CHARS.zeroWidth}` }), expect: { replies: [echo(`${CHARS.rtlOverride}x${CHARS.zeroWidth}`)] } },
  { name: 'a script payload is data', send: '{"message":"<script>alert(1)</script>","client_id":"&lt;b&gt;"}', expect: { replies: [echo('<script>alert(1)</script>', '&lt;b&gt;')] } },
  { name: 'a binary frame', send: { binary: Buffer.from('{"message":"x"}') }, expect: { replies: [fail('VALIDATION', 'Binary frames are not supported', [{ path: '', message: 'Expected a text frame' }])] } },
  // A flood fills the walker's queue (64 waiting) before the frame budget (200) runs out.
  ...transportRows<undefined>({ frame: '{"message":"é"}', expect: { replies: [echo('é')] }, flood: 'too many messages waiting' })
]

const echoMessage: Surface = {
  name: '/ws/EchoMessage',
  async open(app) {
    return { client: await app.connect('/ws/EchoMessage') }
  },
  probe: (n) => ({ frame: { message: `probe-${n}` }, is: (m: Frame) => m.ok === true && m.data.reports[0]?.echo === `probe-${n}` }),
  cases: ws
}

// SecureChat needs a token; the probe carries a good one.
const good = await signToken({ sub: 'alice' })
const secure: Surface = {
  name: '/ws/SecureChat',
  env: { JWT_SECRET: TEST_SECRET },
  async open(app) {
    return { client: await app.connect('/ws/SecureChat') }
  },
  probe: (n) => ({ frame: { message: `probe-${n}`, token: good }, is: (m: Frame) => m.ok === true && m.data.reports[0]?.echo === `probe-${n}` }),
  cases: [
    { name: 'no token', send: '{"message":"x"}', expect: { replies: [UNAUTHORIZED] } },
    { name: 'a token of the wrong type', send: '{"message":"x","token":{"sub":"alice"}}', expect: { replies: [UNAUTHORIZED] } },
    { name: 'an unsigned alg:none token', send: stringifyJson({ message: 'x', token: noneToken('alice') }), expect: { replies: [UNAUTHORIZED] } },
    { name: '__proto__ as the token', send: '{"message":"x","token":"__proto__"}', expect: { replies: [UNAUTHORIZED] } },
    { name: 'a token inside __proto__ is removed, not used', send: stringifyJson({ message: 'x' }).replace('}', `,"__proto__":{"token":"${good}"}}`), expect: { replies: [UNAUTHORIZED] } },
    { name: 'a token just under the frame limit', send: sized('{"message":"x","token":"%"}', LIMIT, 'a'), expect: { replies: [UNAUTHORIZED] } },
    { name: 'a bad token then bad fields: the token is refused first', send: '{"message":5,"token":"nope"}', expect: { replies: [UNAUTHORIZED] } }
  ]
}

await t.test(echoMessage.name, (t) => runSurface(t, echoMessage))
await t.test(secure.name, (t) => runSurface(t, secure))

// ---------------------------------------------------------------- HTTP

const greeting = (name: string, excited = false) => ok({ greeting: `Hello, ${name}${excited ? '!' : '.'}` })
const MB = 1_048_576

async function* chunks(body: string, n: number): AsyncIterable<Buffer> {
  const size = Math.ceil(body.length / n)
  for (let i = 0; i < body.length; i += size) yield Buffer.from(body.slice(i, i + size))
}

const http: HttpCase[] = [
  { name: 'malformed JSON', path: '/walker/Greeting', body: '{"name":', status: 400, reply: invalidJson },
  { name: 'an empty JSON body runs with the defaults', path: '/walker/Greeting', body: '', status: 200, reply: greeting('world') },
  { name: 'JSON that is not an object', path: '/walker/Greeting', body: '["Ada"]', status: 400, reply: NOT_AN_OBJECT },
  { name: `arrays nested ${DEEP} deep`, path: '/walker/Greeting', body: `{"name":${deepArray(DEEP)}}`, status: 400, reply: fields(['/name', 'Expected string']) },
  { name: 'a name just under the body limit', path: '/walker/Greeting', body: sized('{"name":"%"}', MB), status: 400, reply: fields(['/name', 'Expected string length less or equal to 100']) },
  {
    name: 'a body over the 1 MiB limit is 413',
    path: '/walker/Greeting',
    body: sized('{"name":"%"}', MB + 1),
    status: 413,
    reply: (b: Frame, t: Test) => t.same({ ok: b.ok, code: b.error.code }, { ok: false, code: 'VALIDATION' })
  },
  { name: 'wrong types in every field', path: '/walker/Greeting', body: '{"name":5,"excited":"yes"}', status: 400, reply: fields(['/name', 'Expected string'], ['/excited', 'Expected boolean']) },
  { name: 'an unknown field', path: '/walker/Greeting', body: '{"name":"Ada","admin":true}', status: 400, reply: fields(['/admin', 'Unexpected property']) },
  { name: 'a __proto__ key is removed', path: '/walker/Greeting', body: '{"__proto__":{"name":"admin","excited":true}}', status: 200, reply: greeting('world') },
  { name: 'a constructor.prototype key is removed', path: '/walker/Greeting', body: '{"constructor":{"prototype":{"excited":true}}}', status: 200, reply: greeting('world') },
  ...['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'].map((name): HttpCase => ({
    name: `${name} is no walker`, path: `/walker/${name}`, body: '{}', status: 404, reply: NOT_FOUND
  })),
  { name: 'a webhook for __proto__, unsigned, is refused before any lookup', path: '/webhook/__proto__', body: '{}', status: 401, reply: fail('UNAUTHORIZED', 'Invalid or missing API key or signature') },
  { name: 'control characters and NUL are data', path: '/walker/Greeting', body: stringifyJson({ name: `a${CHARS.nul}b${CHARS.loneHigh}` }), status: 200, reply: greeting(`a${CHARS.nul}b${CHARS.loneHigh}`) },
  { name: 'a script payload is data, in a JSON response', path: '/walker/Greeting', body: '{"name":"<script>alert(1)</script>"}', status: 200, reply: greeting('<script>alert(1)</script>') },
  {
    name: 'invalid UTF-8 in the body is refused',
    path: '/walker/Greeting',
    body: Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    status: 400,
    reply: fail('VALIDATION', 'Invalid JSON', [{ path: '', message: 'the body is not valid UTF-8' }])
  },
  { name: 'a binary body', path: '/walker/Greeting', body: Buffer.from([0, 1, 2]), headers: { 'content-type': 'application/octet-stream' }, status: 415, reply: fail('VALIDATION', 'Content-Type must be application/json', []) },
  { name: 'a text body', path: '/walker/Greeting', body: 'name=Ada', headers: { 'content-type': 'text/plain' }, status: 415, reply: fail('VALIDATION', 'Content-Type must be application/json', []) },
  { name: 'a body in 200 chunks (chunked transfer) is one body', path: '/walker/Greeting', body: () => chunks(`{"name":"Ada${' '.repeat(2000)}","excited":true}`, 200), status: 400, reply: fields(['/name', 'Expected string length less or equal to 100']) },
  { name: 'a small body in chunks', path: '/walker/Greeting', body: () => chunks('{"name":"Ada","excited":true}', 10), status: 200, reply: greeting('Ada', true) },
  {
    name: 'headers over 16 KB are 431',
    path: '/walker/Greeting',
    body: '{}',
    headers: { 'x-filler': 'x'.repeat(17_000) },
    status: 431,
    reply: { error: 'Request Header Fields Too Large', message: 'Exceeded maximum allowed HTTP header size', statusCode: 431 }
  }
]

await t.test('POST /walker and /webhook', (t) => runHttp(t, { healthy: { path: '/walker/Greeting', body: { name: 'Ada' }, reply: greeting('Ada') }, cases: http }))
