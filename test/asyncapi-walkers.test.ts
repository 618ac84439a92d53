// /asyncapi.json for the websocket walkers (issue 18): each walker /ws/<Name> is a channel of its
// own, titled walker_<Name>, its fields in and the envelope out, with an example a person would
// send; and every frame the server sends on a walker socket (success, broadcast, VALIDATION,
// UNAUTHORIZED, EXECUTION_ERROR), read off real sockets, is accepted by exactly one message of
// its own channel.
import t from 'tap'
import { Parser } from '@asyncapi/parser'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { fetchDoc, payloads, PYTHON_KEYWORDS, validator } from './helpers/asyncapi.ts'
import { startApp } from './helpers/app.ts'
import { signToken, TEST_SECRET } from './helpers/tokens.ts'
import { fixtureDir } from './helpers/walkers.ts'
import { isIdentifier } from '../src/docs/asyncapi.ts'
import { walkerExample } from '../src/docs/surfaces.ts'

type Messages = Record<string, { name: string; summary: string; examples: { payload: unknown }[] }>

t.test('each websocket walker is a channel: identifier title, fields in, the envelope out, a usable example', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const doc = await fetchDoc(s.http)
  const messages = (doc.components as unknown as { messages: Messages }).messages
  for (const name of ['Announce', 'EchoMessage', 'PingPong', 'SecureChat']) {
    const id = `walker_${name}`
    const c = doc.channels[id]
    t.ok(c, `${id} is a channel`)
    if (!c) continue
    t.equal(c.address, `/ws/${name}`)
    t.equal(c.title, id, `${id}: titled with its id`)
    t.ok(isIdentifier(c.title) && !PYTHON_KEYWORDS.has(c.title))
    t.match(c.summary, /^Walker/, `${id}: a line for people`)
    t.same(payloads(doc, id, 'receive').map(([n]) => n), [`Walker${name}FieldsFromClient`])
    t.same(payloads(doc, id, 'send').map(([n]) => n), [`Walker${name}SuccessFromServer`, `Walker${name}FailureFromServer`])
    t.ok(messages[`${id}_in_fields`]!.examples.length > 0, `${id}: an example to send`)
  }
  t.same(messages.walker_EchoMessage_in_fields!.examples[0]!.payload, { message: 'hello', client_id: 'anonymous' }, 'a word to send, not an empty string')
  t.same(messages.walker_Announce_in_fields!.examples[0]!.payload, { message: 'hello', from: 'anonymous' })
  t.same(doc.components.schemas.WalkerEchoMessageFieldsFromClient!.required, ['message'], 'a field with a default may be left out, as the server fills it')
  t.match(doc.channels.walker_EchoMessage!.summary, /^Walker: Echo a message back with the sender id$/)
  t.same(messages.walker_PingPong_in_fields!.examples[0]!.payload, {})
  t.match(doc.channels.walker_SecureChat!.summary, /authenticated/, 'the walker\'s description is its line')
  t.notOk(Object.values(doc.channels).some((c) => c.address === '/ws/Greeting' || c.address === '/ws/WhoAmI'), 'HTTP walkers are not channels')
})

t.test('walkerExample: a value per required or defaulted field, within the schema, or Value.Create when nothing fits', async (t) => {
  t.same(walkerExample(Type.Object({ a: Type.String({ minLength: 8 }), b: Type.Integer({ minimum: 5 }), c: Type.Boolean(), d: Type.Optional(Type.String()) })), { a: 'hello!!!', b: 5, c: true })
  t.same(walkerExample(Type.Object({ a: Type.String({ maxLength: 2 }), n: Type.Number({ maximum: -3 }) })), { a: 'he', n: -3 })
  t.same(walkerExample(Type.Object({ e: Type.String({ examples: ['ada'], minLength: 3 }) })), { e: 'ada' }, 'the field\'s own example first')
  t.same(walkerExample(Type.Object({ e: Type.String({ examples: ['ada@example.com'], format: 'no-such-format' }) })), { e: 'ada@example.com' }, 'an unknown format: a best guess, no throw')
  t.same(walkerExample(Type.Object({ e: Type.String({ format: 'no-such-format' }) })), { e: 'hello' }, 'even without an example')
  t.same(walkerExample(Type.Object({ k: Type.Union([Type.Literal('x'), Type.Literal('y')]) })), { k: 'x' })
  t.same(walkerExample(Type.Object({ p: Type.String({ pattern: '^[0-9]{3}$' }) })), { p: 'hello' }, 'a pattern it cannot guess: a best guess, no throw')
  const odd = Type.Object({ p: Type.String({ pattern: '^[0-9]{3}$', default: '123' }), q: Type.Tuple([Type.Number()]) })
  t.same(walkerExample(odd), Value.Create(odd), 'otherwise Value.Create decides')
})

t.test('every frame the server sends on a walker socket is one of its channel\'s server messages, exactly one', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  const token = await signToken({ sub: 'alice' })
  const sent: { channel: string; frame: unknown }[] = []
  const collect = async (path: string, frames: (string | object | Buffer)[], opts = {}) => {
    const c = await s.connect(path, opts)
    for (const f of frames) {
      if (Buffer.isBuffer(f)) c.sendBinary(f)
      else c.send(f)
      sent.push({ channel: `walker_${path.slice(4).split('?')[0]}`, frame: await c.receiveJson({ timeout: 3000 }) })
    }
    c.terminate()
  }
  await collect('/ws/Plain', ['{}', '{not json', '[1]', { unknown: 1 }, Buffer.from([1, 2])])
  await collect('/ws/Throws', ['{}'])
  await collect('/ws/SecureRoom', [{ message: 'no token' }])
  await collect(`/ws/SecureRoom?token=${token}`, [{ message: 'with a token' }, { message: 5 }])
  await collect('/ws/Inspect', [{ token: 'not-a-jwt', a: 1 }, { token, a: 1 }])

  const doc = await fetchDoc(s.http)
  const { diagnostics } = await new Parser().parse(JSON.stringify(doc))
  t.same(diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('.')}: ${d.message}`), [], 'the document with these walkers is valid AsyncAPI')
  const accepts = validator(doc)
  const seen = new Set<string>()
  for (const { channel, frame } of sent) {
    const own = accepts(channel, frame)
    t.equal(own.length, 1, `${channel}: exactly one model takes ${JSON.stringify(frame).slice(0, 120)} (${own.join(', ')})`)
    for (const title of own) seen.add(title.replace(/^Walker[A-Za-z]+?(Success|Failure)FromServer$/, '$1'))
  }
  t.same([...seen].sort(), ['Failure', 'Success'], 'both envelopes seen')
  const codes = sent.map(({ frame }) => (frame as { error?: { code: string } }).error?.code).filter(Boolean)
  t.same([...new Set(codes)].sort(), ['EXECUTION_ERROR', 'UNAUTHORIZED', 'VALIDATION'], 'every error a walker socket sends')
  t.same(accepts('walker_Plain', { ok: true, data: { reports: [], extra: 1 } }), [], 'and nothing the server never sends')
  t.same(accepts('walker_Plain', { ok: false, error: { code: 'TEAPOT', message: 'no' } }), [])
})
