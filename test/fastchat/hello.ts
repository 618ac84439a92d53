// FastChat HELLO validation, prototype safety and token binding over real sockets (SPEC section 3).
import type { Test } from 'tap'
import { randomUUID } from 'node:crypto'
import type { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { signToken, TEST_SECRET } from '../helpers/tokens.ts'
import { deploy, join, type Deployment, type Frame, type Start } from '../helpers/fastchat.ts'

async function fresh(dep: Deployment, opts?: Parameters<Deployment['connect']>[1]): Promise<WsTestClient> {
  const c = await dep.connect('/ws', opts)
  await c.receiveJson() // WELCOME
  return c
}

const paths = (e: Frame): string[] => e.data.details.errors.map((x: { path: string }) => x.path)

export function helloSuite(t: Test, start: Start): void {
  t.test('HELLO validation names each failing field; the connection stays usable', async (t) => {
    const dep = await deploy(t, start)
    const c = await fresh(dep)
    const id = randomUUID()
    const cases: [string, unknown, string[]][] = [
      ['display_name of 2', { user_id: id, display_name: 'Al' }, ['/data/display_name']],
      ['display_name of 51', { user_id: id, display_name: 'A'.repeat(51) }, ['/data/display_name']],
      ['display_name of 2 once HTML is gone', { user_id: id, display_name: '<b>Al</b>' }, ['/data/display_name']],
      ['a UUID v1', { user_id: 'a8098c1a-f86e-11da-bd1a-00112444be1e', display_name: 'Alice' }, ['/data/user_id']],
      ['not a UUID', { user_id: 'alice', display_name: 'Alice' }, ['/data/user_id']],
      ['user_id 123', { user_id: 123, display_name: 'Alice' }, ['/data/user_id']],
      ['an extra field', { user_id: id, display_name: 'Alice', admin: true }, ['/data/admin']],
      ['two bad fields', { user_id: 'nope', display_name: 'Al' }, ['/data/user_id', '/data/display_name']],
      ['__proto__ as user_id', { user_id: '__proto__', display_name: 'Alice' }, ['/data/user_id']],
      ['constructor as user_id', { user_id: 'constructor', display_name: 'Alice' }, ['/data/user_id']],
      ['missing display_name', { user_id: id }, ['/data/display_name']]
    ]
    for (const [what, data, failing] of cases) {
      c.send({ type: 'HELLO', data })
      const e = await c.receiveJson()
      t.equal(e.type, 'ERROR', what)
      t.equal(e.data.code, 'VALIDATION', what)
      t.same(paths(e).sort(), failing.sort(), `${what}: names ${failing.join(', ')}`)
      for (const err of e.data.details.errors) t.type(err.message, 'string')
    }
    c.send({ type: 'HELLO' })
    t.same(paths(await c.receiveJson()), ['/data'], 'missing data')
    c.send({ type: 'HELLO', data: { user_id: id, display_name: 'Alice' }, extra: 1 })
    t.same(paths(await c.receiveJson()), ['/extra'], 'extra top-level field')

    c.send({ type: 'HELLO', data: { user_id: id, display_name: 'Alice' } })
    t.same(await c.receiveJson(), { type: 'HELLO_ACK', data: { user_id: id, status: 'connected' } }, 'a valid HELLO still works')
    t.equal((await c.receiveJson()).type, 'PRESENCE')
    c.send({ type: 'HELLO', data: { user_id: randomUUID(), display_name: 'Mallory' } })
    t.same(await c.receiveJson(), { type: 'ERROR', data: { code: 'VALIDATION', message: 'already identified', details: {} } }, 'second HELLO')
  })

  t.test('a __proto__ key in a payload never changes a prototype', async (t) => {
    const dep = await deploy(t, start)
    const c = await fresh(dep)
    const id = randomUUID()
    c.send(`{"type":"HELLO","data":{"user_id":"${id}","display_name":"Alice","__proto__":{"polluted":"yes"}}}`)
    const reply = await c.receiveJson()
    t.ok(reply.type === 'HELLO_ACK' || reply.data?.code === 'VALIDATION', `answered: ${reply.type}`)
    c.send('{"type":"MSG","data":{"to":"x","content":"y","constructor":{"prototype":{"polluted":"yes"}}},"__proto__":{"polluted":"yes"}}')
    c.send('{"type":"PING","data":{"__proto__":{"polluted":"yes"}}}')
    await c.waitFor((m: Frame) => m.type === 'PONG')
    t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
    t.equal((Object.prototype as Record<string, unknown>).polluted, undefined)
  })

  t.test('tokens: sub must match user_id, AUTH_REQUIRED needs one, a valid one connects', async (t) => {
    const dep = await deploy(t, start, { JWT_SECRET: TEST_SECRET, AUTH_REQUIRED: true })
    const id = randomUUID()
    const good = await signToken({ sub: id, name: 'Alice' })

    const none = await fresh(dep)
    none.send({ type: 'HELLO', data: { user_id: id, display_name: 'Alice' } })
    t.same(await none.receiveJson(), { type: 'ERROR', data: { code: 'UNAUTHORIZED', message: 'a valid token is required', details: {} } }, 'AUTH_REQUIRED without a token')
    t.ok(none.isOpen)

    const other = await fresh(dep, { headers: { authorization: `Bearer ${await signToken({ sub: randomUUID() })}` } })
    other.send({ type: 'HELLO', data: { user_id: id, display_name: 'Alice' } })
    t.same(await other.receiveJson(), { type: 'ERROR', data: { code: 'UNAUTHORIZED', message: 'user_id does not match the token', details: {} } }, 'sub ≠ user_id')

    const expired = await fresh(dep)
    expired.send({ type: 'HELLO', data: { user_id: id, display_name: 'Alice', token: await signToken({ sub: id }, { ttl: -10 }) } })
    t.same(await expired.receiveJson(), { type: 'ERROR', data: { code: 'UNAUTHORIZED', message: 'invalid or expired token', details: {} } }, 'expired token')

    const forged = await fresh(dep)
    forged.send({ type: 'HELLO', data: { user_id: id, display_name: 'Alice', token: await signToken({ sub: id }, { secret: 'another-secret-that-is-long-enough!!' }) } })
    t.equal((await forged.receiveJson()).data.code, 'UNAUTHORIZED', 'token signed with another key')

    const viaHeader = await join(dep, 'Alice', { user_id: id, connect: { headers: { authorization: `Bearer ${good}` } } })
    t.same(viaHeader.presence, [{ user_id: id, display_name: 'Alice', online: true }], 'bearer token in the handshake connects')
    const bobId = randomUUID()
    const viaHello = await join(dep, 'Bob', { user_id: bobId, token: await signToken({ sub: bobId }) })
    t.equal(viaHello.presence.length, 2, 'data.token connects')
  })

  t.test('a token in the handshake query binds the connection and ends it when it expires', async (t) => {
    const dep = await deploy(t, start, { JWT_SECRET: TEST_SECRET })
    const id = randomUUID()
    const short = await signToken({ sub: id }, { ttl: Math.floor(Date.now() / 1000) + 2 })
    const anonymous = await join(dep, 'Anon')
    t.equal(anonymous.presence.length, 1, 'without AUTH_REQUIRED and without a token, HELLO works')
    const bound = await dep.connect(`/ws?token=${encodeURIComponent(short)}`)
    await bound.receiveJson()
    bound.send({ type: 'HELLO', data: { user_id: randomUUID(), display_name: 'Mallory' } })
    t.equal((await bound.receiveJson()).data.code, 'UNAUTHORIZED', 'the handshake token binds user_id even without AUTH_REQUIRED')
    bound.send({ type: 'HELLO', data: { user_id: id, display_name: 'Alice' } })
    t.equal((await bound.receiveJson()).type, 'HELLO_ACK')
    const info = await bound.expectClose(1008, { timeout: 5000 })
    t.equal(info.reason, 'token expired')
  })
}
