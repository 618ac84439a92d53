// /asyncapi.json says what the server does (SPEC): each client frame below is sent to the real
// server, and the served document's schema for it (compiled by ajv, as a generated client would)
// accepts exactly the frames the server takes and refuses those it answers VALIDATION. Also the
// server's URL behind a proxy's path prefix, and the flat dialect's summaries.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { Ajv } from 'ajv'
import { Parser } from '@asyncapi/parser'
import { startApp, type TestApp } from './helpers/app.ts'
import { signToken, TEST_SECRET } from './helpers/tokens.ts'
import { fetchDoc, last, type Doc } from './helpers/asyncapi.ts'

/** Whether the served document's payload of client message `key` accepts `frame`. */
function clientSchemas(doc: Doc): (key: string, frame: unknown) => boolean {
  const ajv = new Ajv({ strict: false, validateFormats: false })
  ajv.addSchema({ $id: 'asyncapi.json', components: { schemas: doc.components.schemas } })
  return (key, frame) => {
    const message = doc.components.messages[key]
    if (!message) throw new Error(`no message ${key}`)
    return ajv.validate({ $ref: `asyncapi.json#/components/schemas/${last(message.payload.$ref)}` }, frame)
  }
}

/** A /ws connection past its WELCOME, identified by an enveloped or a flat HELLO. */
async function hello(t: Test, s: TestApp, flat: boolean, name: string) {
  const c = await s.connect('/ws')
  t.equal((await c.receiveJson()).type, 'WELCOME', `${name}: WELCOME first`)
  const user_id = randomUUID()
  c.send(flat ? { type: 'HELLO', display_name: name, user_id } : { type: 'HELLO', data: { user_id, display_name: name } })
  await c.waitFor((f) => f.type === 'PRESENCE')
  return { c, user_id }
}

t.test('an authenticated walker\'s fields: unknown ones refused by the document as by the server', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(s.close)
  const accepts = clientSchemas(await fetchDoc(s.http))
  const c = await s.connect('/ws/SecureChat', { headers: { authorization: `Bearer ${await signToken({ sub: 'alice' })}` } })
  t.teardown(() => c.terminate())
  c.send({ message: 'hi', mood: 'happy' })
  t.same(await c.receiveJson(), { ok: false, error: { code: 'VALIDATION', message: 'Invalid walker fields', details: [{ path: '/mood', message: 'Unexpected property' }] } }, 'the server: VALIDATION')
  t.equal(accepts('walker_SecureChat_in_fields', { message: 'hi', mood: 'happy' }), false, 'the document refuses it too')
  c.send({ message: 'hi', token: await signToken({ sub: 'alice' }) })
  t.same(await c.receiveJson(), { ok: true, data: { reports: [{ echo: 'hi', authenticated: true }] } }, 'a token field is taken (removed before the fields are checked)')
  t.equal(accepts('walker_SecureChat_in_fields', { message: 'hi', token: 'x' }), true, 'and documented')
  t.equal(accepts('walker_SecureChat_in_fields', { message: 'hi' }), true)
})

/** A fresh app, the client schemas of its document, and Alice identified on /ws (enveloped). */
async function aliceWithTheDocument(t: Test) {
  const s = await startApp()
  t.teardown(s.close)
  const accepts = clientSchemas(await fetchDoc(s.http))
  const { c } = await hello(t, s, false, 'Alice')
  t.teardown(() => c.terminate())
  return { accepts, c }
}

t.test('enveloped PING: without data answered, with a field in data refused, as the document says', async (t) => {
  const { accepts, c } = await aliceWithTheDocument(t)
  c.send({ type: 'PING' })
  const pong = await c.receiveJson()
  t.same(Object.keys(pong.data), ['timestamp'])
  t.equal(pong.type, 'PONG', '{"type":"PING"} gets PONG (SPEC 10)')
  t.equal(accepts('main_in_PING', { type: 'PING' }), true, 'the document accepts it')
  t.equal(accepts('main_in_PING', { type: 'PING', data: {} }), true)
  c.send({ type: 'PING', data: { x: 1 } })
  t.same(await c.receiveJson(), { type: 'ERROR', data: { code: 'VALIDATION', message: 'invalid PING: /data/x: Unexpected property', details: { errors: [{ path: '/data/x', message: 'Unexpected property' }] } } }, 'the validating schema is unchanged')
  t.equal(accepts('main_in_PING', { type: 'PING', data: { x: 1 } }), false, 'and the document refuses that')
})

t.test('HISTORY with before_seq and after_seq: VALIDATION from the server, refused by the document', async (t) => {
  const { accepts, c } = await aliceWithTheDocument(t)
  const both = { type: 'HISTORY', data: { chat_id: 'chat_x', before_seq: 3, after_seq: 0 } }
  c.send(both)
  t.same(await c.receiveJson(), {
    type: 'ERROR',
    data: { code: 'VALIDATION', message: 'invalid HISTORY: /data/after_seq: give before_seq or after_seq, not both', details: { errors: [{ path: '/data/after_seq', message: 'give before_seq or after_seq, not both' }] } }
  })
  t.equal(accepts('main_in_HISTORY', both), false, 'not both (SPEC 9)')
  for (const data of [{ chat_id: 'chat_x', before_seq: 3 }, { chat_id: 'chat_x', after_seq: 0 }, { chat_id: 'chat_x', limit: 5 }]) {
    c.send({ type: 'HISTORY', data })
    t.equal((await c.receiveJson()).data.code, 'CHAT_NOT_OPENED', `${JSON.stringify(data)}: past validation`)
    t.equal(accepts('main_in_HISTORY', { type: 'HISTORY', data }), true, 'and documented')
  }
})

t.test('flat OPEN_CHAT without target_display_name and TYPING without is_typing: taken, and documented', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const accepts = clientSchemas(await fetchDoc(s.http))
  const alice = await hello(t, s, false, 'Alice')
  const flat = await hello(t, s, true, 'MerryZebra445')
  t.teardown(() => { alice.c.terminate(); flat.c.terminate() })
  const open = { type: 'OPEN_CHAT', target_user_id: alice.user_id }
  flat.c.send(open)
  const opened = await flat.c.receiveJson()
  t.same(opened, { type: 'CHAT_OPENED', chat_id: opened.chat_id, participants: opened.participants, target_user_id: alice.user_id, target_display_name: 'Alice' })
  t.equal(accepts('main_flat_in_flat_OPEN_CHAT', open), true, 'the document accepts it')
  await alice.c.waitFor((f) => f.type === 'CHAT_OPENED')
  flat.c.send({ type: 'TYPING', is_typing: true })
  t.same(await alice.c.receiveJson(), { type: 'TYPING', data: { user_id: flat.user_id, is_typing: true } })
  flat.c.send({ type: 'TYPING' })
  t.same(await alice.c.receiveJson(), { type: 'TYPING', data: { user_id: flat.user_id, is_typing: false } }, 'read as false (SPEC 10)')
  t.equal(accepts('main_flat_in_flat_TYPING', { type: 'TYPING' }), true, 'the document accepts it')
  t.equal(accepts('main_flat_in_flat_TYPING', { type: 'TYPING', is_typing: 'yes' }), false)
})

t.test('flat summaries promise only what a flat connection gets', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const doc = await fetchDoc(s.http) as Doc & { components: { messages: Record<string, { summary: string }> } }
  const summary = (key: string) => doc.components.messages[key]!.summary
  t.equal(summary('main_flat_in_flat_HELLO'), 'identify: the first FastChat frame; no capabilities (full PRESENCE lists, no history)')
  t.equal(summary('main_flat_out_flat_PRESENCE'), 'who is online: always the full list')
  t.equal(summary('main_flat_out_flat_MSG_ACK'), 'a message this user sent was delivered (receipts are not passed on: the app shows them as pending)')
  t.equal(summary('main_in_HELLO'), 'identify: the first FastChat frame (capabilities: presence_delta, history)', 'the enveloped ones keep theirs')
  t.equal(summary('main_out_MSG_ACK'), 'where a message this user sent stands: stored, delivered, received')
  // What the server does with a flat HELLO asking for both: neither (no claim, no CHATS, full lists).
  const c = await s.connect('/ws')
  t.teardown(() => c.terminate())
  await c.receiveJson()
  const user_id = randomUUID()
  c.send({ type: 'HELLO', display_name: 'MerryZebra445', user_id, capabilities: ['history', 'presence_delta'] })
  t.same(await c.receiveJson(), { type: 'HELLO_ACK', user_id, status: 'connected', message: 'Connected successfully' })
  t.same(await c.receiveJson(), { type: 'PRESENCE', users: [{ user_id, display_name: 'MerryZebra445', online: true }], action: 'update' })
  await c.expectNoMessage(300)
})

t.test('behind a path prefix, the document\'s server keeps it: server + address is where /ws is', async (t) => {
  // `ws` false: WS_PUBLIC_URL is not /ws's own path, so nothing is said of the other surfaces' paths (origin only).
  const cases: { env: Record<string, string>; server: Record<string, string>; ws?: false }[] = [
    { env: { PUBLIC_BASE_URL: 'https://example.com/switchboard' }, server: { host: 'example.com', protocol: 'wss', pathname: '/switchboard' } },
    { env: { PUBLIC_BASE_URL: 'https://example.com/switchboard/' }, server: { host: 'example.com', protocol: 'wss', pathname: '/switchboard' } },
    { env: { WS_PUBLIC_URL: 'wss://ws.example.com:8443/a/b/ws' }, server: { host: 'ws.example.com:8443', protocol: 'wss', pathname: '/a/b' } },
    { env: { PUBLIC_BASE_URL: 'https://example.com' }, server: { host: 'example.com', protocol: 'wss' } },
    { env: { WS_PUBLIC_URL: 'wss://example.com/socket' }, server: { host: 'example.com', protocol: 'wss' }, ws: false }
  ]
  for (const { env, server, ws } of cases) {
    const s = await startApp(env)
    const doc = await fetchDoc(s.http) as Doc & { servers: Record<string, { host: string; protocol: string; pathname?: string }> }
    t.same(doc.servers, { switchboard: { ...server, description: 'this instance' } }, JSON.stringify(env))
    const { diagnostics } = await new Parser().parse(JSON.stringify(doc))
    t.same(diagnostics.filter((d) => d.severity === 0).map((d) => d.message), [], 'valid AsyncAPI')
    if (ws !== false) {
      const health = await s.connect('/ws/health')
      const status = await health.receiveJson()
      const sv = doc.servers.switchboard!
      t.equal(`${sv.protocol}://${sv.host}${sv.pathname ?? ''}${doc.channels.main!.address}`, status.environment.ws_public_url, 'the URL /ws/health reports for /ws')
      health.terminate()
    }
    await s.close()
  }
  const s = await startApp()
  t.teardown(s.close)
  t.same((await fetchDoc(s.http) as unknown as { servers: unknown }).servers, { switchboard: { host: new URL(s.http).host.replace('127.0.0.1', 'localhost'), protocol: 'ws', description: 'this instance' } }, 'by default: the listen address, no pathname')
})
