// The admin console's server side (routes/admin.ts, src/admin): who gets in (ADMIN_TOKEN as a
// bearer header or the socket's subprotocol, the origin rules of every socket, 401 otherwise),
// what the feed says (history, samples that move with traffic, users with their connections and
// dialects, open chats), the disconnect action with a stated close code, shutdown, and that no
// log line ever carries the token.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import WebSocket from 'ws'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { startApp, type TestApp } from './helpers/app.ts'
import { join, openChat, type Frame } from './helpers/fastchat.ts'
import { pageUrls, startupBanner } from '../src/admin/banner.ts'
import { loadConfig } from '../src/config.ts'
import { validCloseCode } from '../src/admin/users.ts'

const TOKEN = 'test-admin-token-0123456789abcdef'
const protocols = (token: string) => `switchboard-admin, token.${Buffer.from(token).toString('base64url')}`

async function app(t: Test, env: Record<string, string | number | boolean> = {}): Promise<TestApp> {
  const s = await startApp({ ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'info', ...env })
  t.teardown(() => s.close())
  return s
}

/** The console's socket, with the bearer header (the page's subprotocol form has its own test). */
async function consoleSocket(s: TestApp, headers: Record<string, string> = {}): Promise<WsTestClient> {
  return s.connect('/admin/ws', { headers: { authorization: `Bearer ${TOKEN}`, ...headers } })
}

/** The page's way in: the token as a subprotocol; resolves with the protocol picked and the first frame. */
function subprotocolHello(s: TestApp, token: string): Promise<{ protocol: string; first: Frame }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(s.ws('/admin/ws'), ['switchboard-admin', `token.${Buffer.from(token).toString('base64url')}`])
    ws.once('message', (data) => {
      resolve({ protocol: ws.protocol, first: JSON.parse(String(data)) })
      ws.terminate()
    })
    ws.once('error', reject)
  })
}

const bearer = { authorization: `Bearer ${TOKEN}` }

t.test('without ADMIN_TOKEN the console is off: the shell loads, every data route is 401', async (t) => {
  const s = await startApp()
  t.teardown(() => s.close())
  const page = await fetch(`${s.http}/admin`)
  t.equal(page.status, 200, 'the page itself has no data in it')
  t.match(page.headers.get('content-security-policy'), /default-src 'self'/)
  const state = await fetch(`${s.http}/admin/api/state`, { headers: bearer })
  t.equal(state.status, 401)
  t.match(await state.json(), { message: /set ADMIN_TOKEN/ })
  t.equal(await WsTestClient.refusal(s.ws('/admin/ws'), { headers: { 'sec-websocket-protocol': protocols(TOKEN) } }), 401)
})

t.test('with ADMIN_TOKEN: 401 without or with a wrong token, in every form; the right one gets in', async (t) => {
  const s = await app(t)
  for (const headers of [{} as Record<string, string>, { authorization: 'Bearer nope' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }]) {
    const res = await fetch(`${s.http}/admin/api/state`, { headers })
    t.equal(res.status, 401, `GET /admin/api/state with ${JSON.stringify(headers)}`)
    t.equal(res.headers.get('www-authenticate'), 'Bearer realm="switchboard-admin"')
  }
  const post = await fetch(`${s.http}/admin/api/users/x/disconnect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(post.status, 401, 'the action too')
  t.equal(await WsTestClient.refusal(s.ws('/admin/ws')), 401, 'a socket without a token')
  t.equal(await WsTestClient.refusal(s.ws('/admin/ws'), { headers: { 'sec-websocket-protocol': protocols('wrong') } }), 401, 'a socket with a wrong token')

  const ok = await fetch(`${s.http}/admin/api/state`, { headers: bearer })
  t.equal(ok.status, 200)
  t.match(await ok.json(), { instance: String, users: { local: 0, users: [] } })
  const c = await consoleSocket(s)
  t.equal((await c.receiveJson()).type, 'hello', 'the bearer header works on the handshake')
  const page = await subprotocolHello(s, TOKEN)
  t.equal(page.first.type, 'hello', 'so does the page\'s subprotocol')
  t.equal(page.protocol, 'switchboard-admin', 'the server picks the console\'s protocol, never echoes the token')
  // Whatever the order the client offers them in, or the token offered alone.
  const token = `token.${Buffer.from(TOKEN).toString('base64url')}`
  for (const [offer, picked] of [[`${token}, switchboard-admin`, 'switchboard-admin'], [token, undefined]] as const) {
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = http.get({
        host: '127.0.0.1', port: s.port, path: '/admin/ws', agent: false,
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': offer }
      })
      req.on('upgrade', (res, socket) => {
        socket.destroy()
        resolve(res)
      })
      req.on('response', (res) => reject(new Error(`refused: ${res.statusCode}`)))
      req.on('error', reject)
    })
    t.equal(res.statusCode, 101, `offered ${offer === token ? 'the token alone' : 'the token first'}: let in`)
    t.equal(res.headers['sec-websocket-protocol'], picked, 'and the token is not in the 101')
  }
})

t.test('the console socket obeys the origin rules of every socket', async (t) => {
  const s = await app(t, { ALLOWED_ORIGINS: 'https://ops.example' })
  t.equal(await WsTestClient.refusal(s.ws('/admin/ws'), { headers: { origin: 'https://evil.example', 'sec-websocket-protocol': protocols(TOKEN) } }), 403,
    'a foreign origin is refused even with the token')
  const own = await consoleSocket(s, { origin: s.http })
  t.equal((await own.receiveJson()).type, 'hello', 'the page\'s own origin')
  const listed = await consoleSocket(s, { origin: 'https://ops.example' })
  t.equal((await listed.receiveJson()).type, 'hello', 'an origin in ALLOWED_ORIGINS')
})

t.test('the feed: a hello with the window, then ticks whose samples follow the traffic and whose users list connections', async (t) => {
  const s = await app(t)
  const admin = await consoleSocket(s)
  const hello = await admin.receiveJson()
  t.match(hello, { type: 'hello', instance: String, version: String, surfaces: ['main', 'echo', 'health', 'walker'], redis: false, close_default: { code: 1008 } })
  t.ok(Array.isArray(hello.history))

  const alice = await join(s, 'Alice', { capabilities: ['history'] })
  const bob = await join(s, 'Bob')
  await openChat(alice, bob)
  // The FastChat app's own dialect: a flat HELLO.
  const flat = await s.connect('/ws')
  const flatId = randomUUID()
  flat.send({ type: 'HELLO', user_id: flatId, display_name: 'Flatty' })
  await flat.waitFor((m: Frame) => m.type === 'HELLO_ACK')
  const echo = await s.connect('/ws/echo')
  echo.send('hello')

  const tick = await admin.waitFor((m: Frame) => m.type === 'tick' && m.users.local === 3 && m.sample.conns.main === 3 && m.sample.conns.echo === 1, { timeout: 4000 })
  const users = Object.fromEntries(tick.users.users.map((u: Frame) => [u.display_name, u]))
  t.match(users.Alice, { user_id: alice.user_id, connections: [{ surface: 'main', dialect: 'enveloped', history: true, since: Number }] })
  t.match(users.Flatty, { user_id: flatId, connections: [{ surface: 'main', dialect: 'flat', history: false }] })
  t.ok(Math.abs(users.Alice.connections[0].since - Date.now()) < 10_000, 'since: when the socket opened')
  t.match(users.Alice.chats, [{ with: bob.user_id, with_name: 'Bob', with_online: true, chat_id: /^chat_/ }])
  t.equal(tick.users.open_chats, 1)
  t.equal(tick.users.online, 3)
  const moved = await admin.waitFor((m: Frame) => m.type === 'tick' && m.sample.in.main > 0, { timeout: 4000 }).catch(() => tick)
  t.ok(hello.history.concat([tick.sample, moved.sample]).some((x: Frame) => x.in.main > 0 || x.out.main > 0), 'frames per second on /ws were counted')
  t.ok(tick.sample.heap_used > 0 && tick.sample.rss > 0 && tick.sample.lag_p99_ms >= 0)

  // A filter narrows the list.
  admin.send({ type: 'filter', q: 'flat' })
  const filtered = await admin.waitFor((m: Frame) => m.type === 'tick' && m.users.matched === 1, { timeout: 4000 })
  t.equal(filtered.users.users[0].display_name, 'Flatty')

  // A close is counted by code.
  await bob.client.close(1000)
  const closed = await admin.waitFor((m: Frame) => m.type === 'tick' && m.sample.closes['1000'] >= 1, { timeout: 4000 })
  t.ok(closed, 'the close shows under its code')
})

t.test('disconnect: every connection of the user closes with the stated code and reason; bad requests are refused', async (t) => {
  const s = await app(t)
  const admin = await consoleSocket(s)
  await admin.receiveJson()
  const alice = await join(s, 'Alice')
  const second = await join(s, 'Alice', { user_id: alice.user_id })
  const bob = await join(s, 'Bob')

  admin.send({ type: 'disconnect', user_id: alice.user_id, code: 4001, reason: 'bye from ops' })
  admin.send({ type: 'disconnect', user_id: alice.user_id, code: 4001, reason: 'bye from ops' }) // a double click
  t.match(await admin.waitFor((m: Frame) => m.type === 'disconnected'), { user_id: alice.user_id, code: 4001, reason: 'bye from ops', closed: 2 })
  t.match(await admin.waitFor((m: Frame) => m.type === 'disconnected'), { user_id: alice.user_id, closed: 0 }, 'sockets already closing are not counted again')
  t.same(await alice.client.expectClose(4001), { code: 4001, reason: 'bye from ops' })
  t.same(await second.client.expectClose(4001), { code: 4001, reason: 'bye from ops' })
  t.ok(bob.client.isOpen, 'other users stay')

  for (const [request, message] of [
    [{ type: 'disconnect', user_id: bob.user_id, code: 1006 }, /code:/],
    [{ type: 'disconnect', user_id: bob.user_id, code: 3000 }, /code:/],
    [{ type: 'disconnect', user_id: bob.user_id, code: 4000, reason: 'x'.repeat(124) }, /reason:/],
    [{ type: 'disconnect' }, /user_id/],
    [{ type: 'nope' }, /type:/]
  ] as const) {
    admin.send(request)
    t.match(await admin.waitFor((m: Frame) => m.type === 'error'), { message }, JSON.stringify(request).slice(0, 60))
  }
  t.ok(bob.client.isOpen, 'refused requests closed nothing')
  admin.send('not json')
  t.match(await admin.waitFor((m: Frame) => m.type === 'error'), { message: /JSON/ })

  // Over HTTP, for scripts: the default is 1008 with the default reason.
  const res = await fetch(`${s.http}/admin/api/users/${bob.user_id}/disconnect`, { method: 'POST', headers: bearer })
  t.equal(res.status, 200)
  t.same(await res.json(), { user_id: bob.user_id, code: 1008, reason: 'disconnected by an operator', closed: 1 })
  t.same(await bob.client.expectClose(1008), { code: 1008, reason: 'disconnected by an operator' })
  const bad = await fetch(`${s.http}/admin/api/users/${bob.user_id}/disconnect`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: '{"code":999}' })
  t.equal(bad.status, 400)

  t.ok(validCloseCode(1000) && validCloseCode(4999) && !validCloseCode(1005) && !validCloseCode(5000) && !validCloseCode(4000.5))
  const action = s.logs.find((l) => l.includes('admin: closed a user'))
  t.match(JSON.parse(action!), { user_id: alice.user_id, code: 4001, closed: 2 }, 'the action is logged')
})

t.test('an ADMIN_TOKEN with spaces in it passes as Bearer (everything after "Bearer "), and only the whole of it', async (t) => {
  const token = 'correct horse battery staple'
  const s = await app(t, { ADMIN_TOKEN: token })
  const status = async (authorization: string) => (await fetch(`${s.http}/admin/api/state`, { headers: { authorization } })).status
  t.equal(await status(`Bearer ${token}`), 200)
  t.equal(await status(`bearer \t ${token}  `), 200, 'the scheme in any case, whitespace around the token is the header\'s')
  t.equal(await status('Bearer correct horse'), 401, 'a part of it is not it')
  t.equal(await status(`Bearer ${token} x`), 401)
  t.equal(await status(`Bearer${token}`), 401, 'no space after the scheme: not a bearer token')
  const c = await s.connect('/admin/ws', { headers: { authorization: `Bearer ${token}` } })
  t.equal((await c.receiveJson()).type, 'hello', 'the socket\'s handshake too')
  t.equal((await subprotocolHello(s, token)).first.type, 'hello', 'and the page\'s subprotocol form')
})

t.test('disconnect over HTTP: an empty JSON body or a null code or reason take the defaults, as over the socket', async (t) => {
  const s = await app(t)
  const admin = await consoleSocket(s)
  await admin.receiveJson()
  const post = async (userId: string, body: string) => {
    const res = await fetch(`${s.http}/admin/api/users/${userId}/disconnect`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body })
    return { status: res.status, body: await res.json() }
  }
  const defaults = { code: 1008, reason: 'disconnected by an operator', closed: 1 }
  for (const body of ['', '  ', '{"code":null}', '{"code":null,"reason":null}', 'null']) {
    const user = await join(s, 'Alice')
    t.same(await post(user.user_id, body), { status: 200, body: { user_id: user.user_id, ...defaults } }, `body ${JSON.stringify(body)}`)
    t.same(await user.client.expectClose(1008), { code: 1008, reason: 'disconnected by an operator' })
  }
  const bob = await join(s, 'Bob')
  t.same(await post(bob.user_id, '{"code":4001,"reason":null}'), { status: 200, body: { user_id: bob.user_id, code: 4001, reason: 'disconnected by an operator', closed: 1 } })
  t.same(await bob.client.expectClose(4001), { code: 4001, reason: 'disconnected by an operator' })

  // The socket says the same of a null.
  const carol = await join(s, 'Carol')
  admin.send({ type: 'disconnect', user_id: carol.user_id, code: null, reason: null })
  t.match(await admin.waitFor((m: Frame) => m.type === 'disconnected'), { user_id: carol.user_id, ...defaults })
  t.same(await carol.client.expectClose(1008), { code: 1008, reason: 'disconnected by an operator' })

  // A body that is not an object is not a request for the defaults.
  const dave = await join(s, 'Dave')
  for (const body of ['[]', '4001', '"x"', '{"code":']) t.equal((await post(dave.user_id, body)).status, 400, `body ${body}`)
  t.ok(dave.client.isOpen, 'refused requests closed nothing')
})

t.test('the token never reaches a log line', async (t) => {
  const s = await app(t, { LOG_LEVEL: 'trace' })
  await fetch(`${s.http}/admin/api/state`, { headers: bearer })
  await fetch(`${s.http}/admin/api/state`, { headers: { authorization: `Bearer ${TOKEN}-wrong` } })
  await fetch(`${s.http}/admin/api/state?token=${TOKEN}`)
  const c = await consoleSocket(s)
  await c.receiveJson()
  await subprotocolHello(s, TOKEN)
  await WsTestClient.refusal(s.ws('/admin/ws'), { headers: { 'sec-websocket-protocol': protocols(`${TOKEN}-wrong`) } })
  await c.close()
  t.ok(s.logs.length > 5, `${s.logs.length} log lines`)
  const b64 = Buffer.from(TOKEN).toString('base64url')
  t.same(s.logs.filter((l) => l.includes(TOKEN) || l.includes(b64)), [])
})

t.test('shutdown closes the console with 1001 and stops its timer', async (t) => {
  const s = await startApp({ ADMIN_TOKEN: TOKEN })
  const c = await consoleSocket(s)
  await c.receiveJson()
  const started = Date.now()
  await s.app.close()
  t.same(await c.expectClose(1001), { code: 1001, reason: 'server shutting down' })
  t.ok(Date.now() - started < 3000, 'promptly')
})

t.test('the startup banner lists the pages; the admin URL carries a generated token only', async (t) => {
  const config = loadConfig({ PORT: 8123 })
  const address = { address: '127.0.0.1', family: 'IPv4', port: 8123 }
  t.same(pageUrls(config, address, 'tok'), {
    chat: 'http://localhost:8123/',
    playground: 'http://localhost:8123/playground',
    docs: 'http://localhost:8123/docs',
    admin: 'http://localhost:8123/admin#token=tok'
  })
  t.match(startupBanner(config, address, 'tok'), /^Switchboard \S+ ready: chat http:\/\/localhost:8123\/ · playground \S+ · docs \S+ · admin http:\/\/localhost:8123\/admin#token=tok /)
  const set = loadConfig({ PORT: 8123, ADMIN_TOKEN: 'operator-secret' })
  const line = startupBanner(set, address)
  t.notOk(line.includes('operator-secret'), 'a token the operator set is never printed')
  t.match(line, /admin http:\/\/localhost:8123\/admin \(token: ADMIN_TOKEN\)$/)
  t.match(startupBanner(loadConfig({ PUBLIC_BASE_URL: 'https://chat.example/' }), address), /chat https:\/\/chat\.example\/ · playground https:\/\/chat\.example\/playground/)
})
