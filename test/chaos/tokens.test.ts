// Token lifecycle: a socket authenticated by a token is closed with 1008 "token expired" when the
// token's exp passes, on every surface that authenticates one (SPEC sections 0, 3, 4, 6), never
// kept open with a stale identity; a token presented again after it expired is refused.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startApp, type TestApp } from '../helpers/app.ts'
import { signToken, TEST_SECRET } from '../helpers/tokens.ts'
import type { WsTestClient } from '../../src/testing/ws-test-client.ts'

interface Row {
  name: string
  /** Connect and authenticate with `token`; resolves once the connection is authenticated. */
  authenticate(app: TestApp, token: string, sub: string): Promise<WsTestClient>
  /** What the same token gets once it has expired, on a new connection. */
  afterExpiry(app: TestApp, token: string, sub: string): Promise<unknown>
  refused: unknown
}

const ok = (echo: string) => ({ ok: true, data: { reports: [{ echo, authenticated: true }] } })

async function fastchatHello(app: TestApp, path: string, data: Record<string, unknown>): Promise<{ client: WsTestClient; reply: unknown }> {
  const client = await app.connect(path)
  await client.receiveJson() // WELCOME
  client.send({ type: 'HELLO', data })
  return { client, reply: await client.receiveJson() }
}

const rows: Row[] = [
  {
    name: 'FastChat, token in the handshake',
    async authenticate(app, token, sub) {
      const { client, reply } = await fastchatHello(app, `/ws?token=${token}`, { user_id: sub, display_name: 'Alice' })
      if ((reply as { type: string }).type !== 'HELLO_ACK') throw new Error(JSON.stringify(reply))
      return client
    },
    afterExpiry: async (app, token, sub) => (await fastchatHello(app, `/ws?token=${token}`, { user_id: sub, display_name: 'Alice' })).reply,
    refused: { type: 'ERROR', data: { code: 'UNAUTHORIZED', message: 'invalid or expired token', details: {} } }
  },
  {
    name: 'FastChat, token in HELLO',
    async authenticate(app, token, sub) {
      const { client, reply } = await fastchatHello(app, '/ws', { user_id: sub, display_name: 'Alice', token })
      if ((reply as { type: string }).type !== 'HELLO_ACK') throw new Error(JSON.stringify(reply))
      return client
    },
    afterExpiry: async (app, token, sub) => (await fastchatHello(app, '/ws', { user_id: sub, display_name: 'Alice', token })).reply,
    refused: { type: 'ERROR', data: { code: 'UNAUTHORIZED', message: 'invalid or expired token', details: {} } }
  },
  {
    name: '/ws/echo action dialect, token in the handshake',
    async authenticate(app, token) {
      const client = await app.connect(`/ws/echo?token=${token}`)
      await client.receiveJson() // welcome
      await client.assertAuthenticated()
      await client.receiveAllUntilComplete()
      return client
    },
    async afterExpiry(app, token) {
      const client = await app.connect(`/ws/echo?token=${token}`)
      await client.receiveJson()
      const auth = await client.receiveJson()
      return { auth: auth.payload.status_code, close: (await client.expectClose()).code }
    },
    refused: { auth: 403, close: 4403 }
  },
  {
    name: 'walker, token in the handshake',
    async authenticate(app, token) {
      const client = await app.connect(`/ws/SecureChat?token=${token}`)
      client.send({ message: 'hi' })
      const reply = await client.receiveJson()
      if (JSON.stringify(reply) !== JSON.stringify(ok('hi'))) throw new Error(JSON.stringify(reply))
      return client
    },
    async afterExpiry(app, token) {
      const client = await app.connect(`/ws/SecureChat?token=${token}`)
      client.send({ message: 'hi' })
      return client.receiveJson()
    },
    refused: { ok: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or missing token' } }
  },
  {
    name: 'walker, token in a message',
    async authenticate(app, token) {
      const client = await app.connect('/ws/SecureChat')
      client.send({ message: 'hi', token })
      const reply = await client.receiveJson()
      if (JSON.stringify(reply) !== JSON.stringify(ok('hi'))) throw new Error(JSON.stringify(reply))
      return client
    },
    async afterExpiry(app, token) {
      const client = await app.connect('/ws/SecureChat')
      client.send({ message: 'hi', token })
      return client.receiveJson()
    },
    refused: { ok: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or missing token' } }
  }
]

t.test('every surface closes a token-authenticated socket with 1008 "token expired" when the token expires', async (t) => {
  const app = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(app.close)
  // One short-lived token per row, all expiring within the same two seconds: rows run together.
  await Promise.all(rows.map(async (row) => {
    const sub = randomUUID()
    const exp = Math.floor(Date.now() / 1000) + 2
    const token = await signToken({ sub, name: 'Alice' }, { ttl: exp })
    const client = await row.authenticate(app, token, sub)
    const info = await client.expectClose(undefined, { timeout: 5000 })
    t.same(info, { code: 1008, reason: 'token expired' }, `${row.name}: closed 1008 "token expired"`)
    t.ok(Date.now() >= exp * 1000 - 5, `${row.name}: not before exp`)
    t.same(await row.afterExpiry(app, token, sub), row.refused, `${row.name}: the expired token is refused afterwards`)
  }))
})

t.test('a socket whose token has no exp, or an unauthenticated one, is not closed', async (t) => {
  const app = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(app.close)
  const forever = await new (await import('jose')).SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(TEST_SECRET))
  const walker = await app.connect(`/ws/SecureChat?token=${forever}`)
  const echo = await app.connect(`/ws/echo?token=${forever}`)
  const anonymous = await app.connect('/ws/echo')
  await new Promise((r) => setTimeout(r, 1500))
  walker.send({ message: 'still' })
  t.same(await walker.receiveJson(), ok('still'))
  t.ok(echo.isOpen && anonymous.isOpen, 'open')
})

t.test('an exp further away than one timer can wait is waited for in steps, and the cancel stops the chain', async (t) => {
  const { onTokenExpiry } = await import('../../src/auth/tokens.ts')
  const hold = setInterval(() => {}, 1000) // the timers are unref'd
  t.teardown(() => clearInterval(hold))
  const start = Date.now()
  let expiredAt = 0
  onTokenExpiry({ sub: 'a', name: 'a', expiresAt: start + 250, claims: {} }, () => (expiredAt = Date.now()), start, 60)
  let cancelled = 0
  const cancel = onTokenExpiry({ sub: 'b', name: 'b', expiresAt: start + 250, claims: {} }, () => cancelled++, start, 60)
  setTimeout(cancel, 130) // after two steps
  await new Promise((r) => setTimeout(r, 400))
  t.ok(expiredAt >= start + 249, `expired at its exp, not at the first step (${expiredAt - start} ms)`)
  t.equal(cancelled, 0, 'cancelled between steps: never called')
})
