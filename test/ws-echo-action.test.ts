// The typed {action, payload} dialect on /ws/echo (SPEC section 4, issue 5).
import t from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import type { AddressInfo } from 'node:net'
import { startApp } from './helpers/app.ts'
import { signToken, TEST_SECRET } from './helpers/tokens.ts'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { loadConfig } from '../src/config.ts'
import { action, defineConsumer } from '../src/consumers/consumer.ts'
import configPlugin from '../plugins/config.ts'
import lifecyclePlugin from '../plugins/lifecycle.ts'
import websocketPlugin from '../plugins/websocket.ts'
import admissionPlugin from '../plugins/admission.ts'
import authPlugin from '../plugins/auth.ts'
import wsEchoRoutes from '../routes/ws-echo.ts'

const COMPLETE = { action: 'complete', payload: null }

t.test('token for testuser: authentication, welcome status, echo with the name, ping', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(s.close)
  const token = await signToken({ sub: 'testuser' })
  const c = await s.connect(`/ws/echo?token=${token}`)
  t.equal((await c.receiveJson()).type, 'welcome')
  t.same(await c.receiveJson(), { action: 'authentication', payload: { status_code: 200, status_text: 'OK', data: { detail: 'OK' } } })
  t.same(await c.receiveJson(), { action: 'status', payload: 'Welcome, testuser!' })
  t.same(await c.receiveJson(), COMPLETE)

  c.send({ action: 'echo', payload: 'Hello, world!' })
  t.same(await c.receiveAllUntilComplete(), [{ action: 'echo', payload: 'testuser: Hello, world!' }])
  c.send({ action: 'ping' })
  t.same(await c.receiveAllUntilComplete(), [{ action: 'pong', payload: null }])
  c.send({ action: 'ping', payload: null })
  t.same(await c.receiveAllUntilComplete(), [{ action: 'pong', payload: null }])
})

t.test('the token may come as a bearer header or a cookie; the name claim wins', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(s.close)
  const bearer = await s.connect('/ws/echo', { headers: { Authorization: `Bearer ${await signToken({ sub: 'u1', name: 'Alice' })}` } })
  await bearer.receiveJson()
  await bearer.assertAuthenticated()
  t.same(await bearer.receiveJson(), { action: 'status', payload: 'Welcome, Alice!' })
  const cookie = await s.connect('/ws/echo', { headers: { Cookie: `theme=dark; token=${await signToken({ sub: 'u2', preferred_username: 'bob' })}` } })
  await cookie.receiveJson()
  await cookie.assertAuthenticated()
  t.same(await cookie.receiveJson(), { action: 'status', payload: 'Welcome, bob!' })
})

t.test('no token: anonymous; bad token: 403 then close 4403', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(s.close)
  const anon = await s.connect('/ws/echo')
  await anon.receiveJson()
  anon.send({ action: 'echo', payload: 'hi' })
  t.same(await anon.receiveAllUntilComplete(), [{ action: 'echo', payload: 'anonymous: hi' }])

  for (const bad of ['not-a-jwt', await signToken({ sub: 'x' }, { secret: 'wrong-secret-wrong-secret-wrong-secret' }), await signToken({ sub: 'x' }, { ttl: Math.floor(Date.now() / 1000) - 60 })]) {
    const c = await s.connect(`/ws/echo?token=${bad}`)
    t.equal((await c.receiveJson()).type, 'welcome')
    t.same(await c.receiveJson(), { action: 'authentication', payload: { status_code: 403, status_text: 'Forbidden', data: { detail: 'Invalid or expired token' } } })
    await c.expectClose(4403)
  }
})

t.test('schema errors are lists of {type, loc, msg}; smoke frames still echo', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  await c.receiveJson()

  c.send({ action: 'nope' })
  const [unknown] = await c.receiveAllUntilComplete() as { action: string; payload: { type: string; loc: string[]; msg: string }[] }[]
  t.equal(unknown!.action, 'error')
  t.same(unknown!.payload.map((e) => [e.type, e.loc]), [['union_tag_invalid', ['action']]])
  t.match(unknown!.payload[0]!.msg, /'nope'.*'ping', 'echo'/)

  c.send({ payload: 1 })
  const [missing] = await c.receiveAllUntilComplete() as { payload: { type: string; loc: string[] }[] }[]
  t.same(missing!.payload.map((e) => [e.type, e.loc]), [['union_tag_not_found', ['action']]])

  c.send({ action: 'echo', payload: 123 })
  const [wrong] = await c.receiveAllUntilComplete() as { payload: { type: string; loc: string[]; msg: string }[] }[]
  t.same(wrong!.payload, [{ type: 'string_type', loc: ['echo', 'payload'], msg: 'Input should be a valid string' }], 'pydantic\'s wording')

  c.send({ action: 'nope', payload: 'x', extra: true })
  const [only] = await c.receiveAllUntilComplete() as { payload: { type: string; loc: string[] }[] }[]
  t.same(only!.payload.map((e) => [e.type, e.loc]), [['union_tag_invalid', ['action']]], 'an unknown tag is the only error, as in pydantic: no model, no extra fields')
  c.send({ payload: 'x', extra: true })
  const [onlyMissing] = await c.receiveAllUntilComplete() as { payload: { type: string; loc: string[] }[] }[]
  t.same(onlyMissing!.payload.map((e) => [e.type, e.loc]), [['union_tag_not_found', ['action']]])

  c.send({ action: 'echo', payload: 'x', extra: true })
  const [extra] = await c.receiveAllUntilComplete() as { payload: { type: string; loc: string[] }[] }[]
  t.same(extra!.payload.map((e) => [e.type, e.loc]), [['extra_forbidden', ['extra']]])

  c.send({ type: 'test', data: 'hello' })
  t.same((await c.receiveJson()).original, { type: 'test', data: 'hello' })
  c.send('plain')
  t.equal((await c.receiveJson()).type, 'echo_raw')
})

t.test('ECHO_SEND_COMPLETION=false sends no complete', async (t) => {
  const s = await startApp({ ECHO_SEND_COMPLETION: 'false' })
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  await c.receiveJson()
  c.send({ action: 'ping' })
  t.same(await c.receiveJson(), { action: 'pong', payload: null })
  await c.expectNoMessage(200)
})

t.test('a consumer is one definition; a throwing handler answers with the generic error', async (t) => {
  const consumer = defineConsumer({
    name: 'test',
    actions: {
      boom: action({ payload: Type.Null(), payloadOptional: true, handle() { throw new Error('kaboom with secret detail') } }),
      slow: action({
        payload: Type.Integer(),
        async handle(ms, ctx) {
          await new Promise((r) => setTimeout(r, ms))
          ctx.send('slept', ms)
        }
      })
    }
  })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (l: string) => logs.push(l) } } })
  await app.register(configPlugin, { config: loadConfig({}) })
  await app.register(lifecyclePlugin)
  await app.register(websocketPlugin)
  await app.register(admissionPlugin)
  await app.register(authPlugin)
  await app.register(wsEchoRoutes, { consumer })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const c = await WsTestClient.connect(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws/echo`)
  t.teardown(() => c.terminate())
  await c.receiveJson()

  c.send({ action: 'boom' })
  t.same(await c.receiveAllUntilComplete(), [{ action: 'error', payload: { detail: 'Failed to process message' } }])
  t.match(logs.join(''), /kaboom with secret detail/, 'the cause goes to the log')

  // Order holds across async handlers and smoke frames on the same socket.
  c.send({ action: 'slow', payload: 80 })
  c.send({ action: 'slow', payload: 1 })
  c.send({ type: 'after' })
  t.same(await c.receiveAllUntilComplete(), [{ action: 'slept', payload: 80 }])
  t.same(await c.receiveAllUntilComplete(), [{ action: 'slept', payload: 1 }])
  t.same((await c.receiveJson()).original, { type: 'after' })
})
