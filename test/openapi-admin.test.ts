// The admin API as /docs/json documents it (plugins/openapi.ts; the routes hide themselves and
// are listed there): every status the real routes answer is documented, each answer validates
// against the documented schema (ajv), and the disconnect action's body is documented as the
// route takes it: optional, each field optional.
import t from 'tap'
import { Ajv } from 'ajv'
import { randomUUID } from 'node:crypto'
import { startApp } from './helpers/app.ts'

type Operation = {
  requestBody?: { required?: boolean; content: Record<string, { schema: object }> }
  responses: Record<string, { content?: Record<string, { schema: object }> }>
}

const TOKEN = 'a'.repeat(32)
const auth = { authorization: `Bearer ${TOKEN}` }
const STATE = '/admin/api/state'
const DISCONNECT = '/admin/api/users/{user_id}/disconnect'

t.test('admin API: each answer is a documented status whose schema takes it', async (t) => {
  const s = await startApp({ ADMIN_TOKEN: TOKEN })
  t.teardown(s.close)
  const doc = await (await fetch(`${s.http}/docs/json`)).json() as { paths: Record<string, Record<string, Operation>> }
  const ajv = new Ajv({ strict: false })
  const state = doc.paths[STATE]!.get!
  const disconnect = doc.paths[DISCONNECT]!.post!
  t.same(Object.keys(state.responses), ['200', '400', '401'])
  t.same(Object.keys(disconnect.responses), ['200', '400', '401'])

  /** The answer to one request: its status documented, its body taken by that status's schema; returned. */
  const call = async (label: string, op: Operation, path: string, init: RequestInit = {}) => {
    const res = await fetch(`${s.http}${path}`, init)
    const body = await res.json() as Record<string, unknown>
    const schema = op.responses[String(res.status)]?.content?.['application/json']?.schema
    t.ok(schema, `${label}: ${res.status} is documented`)
    if (schema) t.ok(ajv.validate(schema, body), `${label}: the documented schema takes ${JSON.stringify(body).slice(0, 120)} ${ajv.errorsText()}`)
    return { status: res.status, body }
  }

  const unauthorized = { error: 'Unauthorized', message: 'the admin token is missing or wrong (Authorization: Bearer <ADMIN_TOKEN>)' }
  t.same(await call('state, no token', state, STATE), { status: 401, body: unauthorized })
  t.same(await call('state, q too long', state, `${STATE}?q=${'x'.repeat(101)}`, { headers: auth }), {
    status: 400, body: { statusCode: 400, code: 'FST_ERR_VALIDATION', error: 'Bad Request', message: 'querystring/q must NOT have more than 100 characters' }
  })

  // A user online, so the state lists one with a connection.
  const user_id = randomUUID()
  const c = await s.connect('/ws')
  t.teardown(() => c.terminate())
  c.send({ type: 'HELLO', data: { user_id, display_name: 'Alice' } })
  await c.waitFor((f) => f.type === 'PRESENCE')
  const ok = await call('state', state, STATE, { headers: auth })
  t.equal(ok.status, 200)
  const users = (ok.body.users as { users: { user_id: string; connections: { dialect: string }[] }[] }).users
  t.same(users.map((u) => [u.user_id, u.connections.map((x) => x.dialect)]), [[user_id, ['enveloped']]], 'the user listed, with a connection')

  const path = `/admin/api/users/${user_id}/disconnect`
  t.same(await call('disconnect, no token', disconnect, path, { method: 'POST' }), { status: 401, body: unauthorized })
  t.same(await call('disconnect, bad code', disconnect, path, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ code: 1 }) }), {
    status: 400, body: { error: 'Bad Request', message: 'code: 1000, 1001, 1008, 1011, 1012, 1013 or 4000–4999' }
  })
  const other = randomUUID()
  const json = { ...auth, 'content-type': 'application/json' }
  t.same(await call('disconnect, a stated code', disconnect, `/admin/api/users/${other}/disconnect`, { method: 'POST', headers: json, body: JSON.stringify({ code: 4001, reason: 'bye' }) }), {
    status: 200, body: { user_id: other, code: 4001, reason: 'bye', closed: 0 }
  })
  // No body at all: the defaults (the body is documented as optional).
  t.same(await call('disconnect, no body', disconnect, path, { method: 'POST', headers: auth }), {
    status: 200, body: { user_id, code: 1008, reason: 'disconnected by an operator', closed: 1 }
  })
  t.equal((await c.expectClose()).code, 1008, 'the user\'s connection closed with it')
})

t.test('admin disconnect: the body documented optional, each field optional and nullable', async (t) => {
  const s = await startApp({ ADMIN_TOKEN: TOKEN })
  t.teardown(s.close)
  const doc = await (await fetch(`${s.http}/docs/json`)).json() as { paths: Record<string, Record<string, Operation>> }
  const body = doc.paths[DISCONNECT]!.post!.requestBody
  t.equal(body?.required, false, 'a request without a body is documented as fine')
  const schema = body?.content['application/json']?.schema
  t.ok(schema, 'a JSON body is documented')
  const ajv = new Ajv({ strict: false })
  for (const b of [{}, { code: 4001 }, { reason: 'bye' }, { code: 1000, reason: 'bye' }, { code: null, reason: null }]) t.ok(ajv.validate(schema!, b), `takes ${JSON.stringify(b)}`)
  for (const b of [{ code: 'x' }, { code: 1.5 }, { reason: 5 }, []]) t.notOk(ajv.validate(schema!, b), `refuses ${JSON.stringify(b)}`)
  t.same(doc.paths[STATE]!.get!.requestBody, undefined, 'GET has none')
})
