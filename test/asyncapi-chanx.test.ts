// /asyncapi.json as chanx's client generators read it (issue 16, seed 002): identifier titles on
// channels and payloads, the action dialect as its own channel discriminated by `action` beside
// the diagnostic echo's on /ws/echo, and every frame the server sends there, read off real
// sockets, valid against its own channel's messages and no other's.
import t from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import type { AddressInfo } from 'node:net'
import { startApp } from './helpers/app.ts'
import { assertOwnChannels, fetchDoc, last, payloads, PYTHON_KEYWORDS, validator } from './helpers/asyncapi.ts'
import { signToken, TEST_SECRET } from './helpers/tokens.ts'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { isIdentifier, pascal } from '../src/docs/asyncapi.ts'
import { echoConsumer } from '../src/consumers/echo.ts'
import { action, defineConsumer } from '../src/consumers/consumer.ts'
import { loadConfig } from '../src/config.ts'
import configPlugin from '../plugins/config.ts'
import lifecyclePlugin from '../plugins/lifecycle.ts'
import websocketPlugin from '../plugins/websocket.ts'
import admissionPlugin from '../plugins/admission.ts'
import authPlugin from '../plugins/auth.ts'
import wsEchoRoutes from '../routes/ws-echo.ts'

t.test('channels and payload schemas carry identifier titles; /ws/echo is two channels, one per dialect', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const doc = await fetchDoc(s.http)

  const prefixes = new Set<string>()
  for (const [id, c] of Object.entries(doc.channels)) {
    t.ok(isIdentifier(c.title) && !PYTHON_KEYWORDS.has(c.title), `channel ${id}: title ${c.title} names a module`)
    t.notOk(prefixes.has(pascal(c.title)), `channel ${id}: ${pascal(c.title)} names no other channel`)
    prefixes.add(pascal(c.title))
    t.ok(c.summary, `channel ${id} keeps a line for people`)
  }
  t.same(Object.entries(doc.channels).filter(([, c]) => c.address === '/ws/echo').map(([id, c]) => [id, c.title]), [['echo', 'echo'], ['echo_actions', 'echo_actions']])

  for (const [k, m] of Object.entries(doc.components.messages)) {
    t.match(m.payload.$ref, /^#\/components\/schemas\/[A-Za-z_][A-Za-z0-9_]*$/, `${k}: its payload is a named schema`)
    t.ok(doc.components.schemas[last(m.payload.$ref)], `${k}: ${m.payload.$ref} exists`)
  }
  const schemaTitles = Object.keys(doc.components.schemas)
  const titles: string[] = []
  const collect = (v: unknown, inProperties = false): void => {
    if (typeof v !== 'object' || v === null) return
    for (const [k, x] of Object.entries(v)) {
      if (k === 'title' && !inProperties && typeof x === 'string') titles.push(x)
      collect(x, k === 'properties' || k === 'patternProperties')
    }
  }
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    t.equal(schema.title, name, `${name}: titled with its own key`)
    // Generated TypeScript also declares `${name}Schema` and `${Channel}ToServer`/`ToClient`.
    t.notOk(name.endsWith('Schema') || [...prefixes].some((p) => name === `${p}ToServer` || name === `${p}ToClient`), `${name}: leaves generated names free`)
    collect(schema)
  }
  t.same(titles.filter((x) => !isIdentifier(x)), [], 'every title inside a payload schema is an identifier')
  t.equal(new Set(schemaTitles).size, schemaTitles.length)

  // The names generated models get, exactly.
  t.same(payloads(doc, 'echo', 'receive').map(([n]) => n), ['EchoJsonFromClient', 'EchoTextFromClient', 'EchoPongFromClient'])
  t.same(payloads(doc, 'echo', 'send').map(([n]) => n), ['EchoWelcomeFromServer', 'EchoEchoFromServer', 'EchoEchoRawFromServer', 'EchoServerPingFromServer', 'EchoErrorFromServer'])
  t.same(payloads(doc, 'echo_actions', 'receive').map(([n]) => n), ['EchoActionsPingFromClient', 'EchoActionsEchoFromClient'])
  t.same(payloads(doc, 'echo_actions', 'send').map(([n]) => n), [
    'EchoActionsAuthenticationFromServer', 'EchoActionsStatusFromServer', 'EchoActionsCompleteFromServer', 'EchoActionsErrorFromServer', 'EchoActionsPongFromServer', 'EchoActionsEchoFromServer'
  ])
})

t.test('the action dialect is discriminated by `action`, the echo dialect by `type`, one tag per model', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const doc = await fetchDoc(s.http)
  const tags = (channel: string, dir: 'send' | 'receive', key: string) => payloads(doc, channel, dir).map(([name, p]) => {
    t.equal(p.discriminator, key, `${name}: discriminator ${key}`)
    t.ok(p.required?.includes(key), `${name}: ${key} is required`)
    return p.properties?.[key]?.const
  })
  for (const dir of ['send', 'receive'] as const) {
    const actions = tags('echo_actions', dir, 'action')
    t.ok(actions.every((a) => typeof a === 'string'), `echo_actions ${dir}: each model pins its action`)
    t.equal(new Set(actions).size, actions.length, `echo_actions ${dir}: no two models share an action`)
    for (const [name, p] of payloads(doc, 'echo_actions', dir)) t.notOk(p.properties?.type, `${name} has no type`)
    for (const [name, p] of payloads(doc, 'echo', dir)) t.notOk(p.properties?.action, `${name} has no action`)
  }
  t.same(tags('echo_actions', 'receive', 'action'), echoConsumer.actionNames)
  t.same(tags('echo', 'send', 'type'), ['welcome', 'echo', 'echo_raw', 'server_ping', 'error'])

  // A generated Python model is a class per payload: its fields and docstring must be Python.
  for (const channel of ['echo', 'echo_actions']) {
    for (const [name, p] of [...payloads(doc, channel, 'send'), ...payloads(doc, channel, 'receive')]) {
      for (const field of Object.keys(p.properties ?? {})) t.ok(isIdentifier(field) && !PYTHON_KEYWORDS.has(field), `${name}.${field} is a field name`)
      t.notMatch(p.description ?? '', /"""|["\\]$/, `${name}: its description fits a docstring`)
    }
  }
})

/** Every frame until `done` says so, then until a server_ping has come too when `ping` is set. */
async function frames(c: WsTestClient, done: (frame: Record<string, unknown>) => boolean, opts: { ping?: boolean } = {}): Promise<unknown[]> {
  const out: Record<string, unknown>[] = []
  let finished = false
  while (!finished || (opts.ping && !out.some((f) => f.type === 'server_ping'))) {
    const frame = await c.receiveJson({ timeout: 3000 })
    out.push(frame)
    finished ||= done(frame)
  }
  return out
}

t.test('every frame the server sends on /ws/echo validates against its own channel\'s messages, and no other\'s', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, WS_PING_INTERVAL: '0.4', WS_PING_TIMEOUT: '0.2' })
  t.teardown(s.close)
  const sent: unknown[] = []

  // Anonymous: both dialects, every kind of reply, a heartbeat.
  const anon = await s.connect('/ws/echo')
  const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]))
  for (const f of [
    { action: 'ping' }, { action: 'ping', payload: null }, { action: 'echo', payload: 'hi' }, { action: 'nope' }, { payload: 1 }, { action: ['echo'] },
    { action: 'echo', payload: 123 }, { action: 'echo' }, { action: 'echo', payload: 'x', extra: true }, { action: 'echo', ...many },
    { type: 'test', data: 'hello' }, { type: 'ping' }, { type: 'pong' }, null, 5, '"a string"', [1, { a: [] }], { deep: { er: [[[{}]]] } }
  ]) anon.send(f)
  anon.send('plain text, not JSON')
  anon.sendBinary(Buffer.from([1, 2, 3]))
  anon.send({ type: 'probe', n: 'last' })
  sent.push(...await frames(anon, (f) => (f.original as { n?: string } | undefined)?.n === 'last', { ping: true }))

  // A good token: authentication, the consumer's welcome status, complete.
  const alice = await s.connect(`/ws/echo?token=${await signToken({ sub: 'alice' })}`)
  sent.push(...await frames(alice, (f) => f.action === 'complete'))

  // A bad token: authentication 403, then the close.
  const mallory = await s.connect('/ws/echo?token=not-a-jwt')
  sent.push(await mallory.receiveJson(), await mallory.receiveJson())
  await mallory.expectClose(4403)

  // A handler that throws: the generic error (only a consumer that throws sends it).
  const boom = defineConsumer({ name: 'boom', actions: { boom: action({ payload: Type.Null(), payloadOptional: true, handle() { throw new Error('kaboom') } }) } })
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config: loadConfig({}) })
  for (const plugin of [lifecyclePlugin, websocketPlugin, admissionPlugin, authPlugin]) await app.register(plugin)
  await app.register(wsEchoRoutes, { consumer: boom })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const c = await WsTestClient.connect(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws/echo`)
  t.teardown(() => c.terminate())
  c.send({ action: 'boom' })
  sent.push(...await frames(c, (f) => f.action === 'complete'))

  const doc = await fetchDoc(s.http)
  const dialect = (frame: unknown) => typeof frame === 'object' && frame !== null && 'action' in frame ? 'echo_actions' : 'echo'
  assertOwnChannels(t, doc, ['echo', 'echo_actions'], sent.map((frame) => ({ channel: dialect(frame), frame })))
})

t.test('the document does not accept what the server never sends', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const accepts = validator(await fetchDoc(s.http))
  for (const frame of [
    { action: 'error', payload: { detail: 'something else' } },
    { action: 'pong', payload: 'no' },
    { action: 'authentication', payload: { status_code: 500, status_text: 'OK', data: { detail: 'OK' } } },
    { action: 'shout', payload: 'hi' },
    { type: 'welcome', endpoint: '/ws/elsewhere', client_id: 'x', server_time: 1, config: { ping_interval: 30, ping_timeout: 10 } },
    { type: 'server_ping', timestamp: 1 }
  ]) {
    t.same([...accepts('echo', frame), ...accepts('echo_actions', frame)], [], `refused: ${JSON.stringify(frame)}`)
  }
})
