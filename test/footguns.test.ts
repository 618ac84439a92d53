// The real process, started as an operator starts it, on the settings that used to crash with a
// stack or fail silently (issue 18, "no footguns"): each is one line naming the variable and the
// rule, with a documented exit code (docs/configuration.md). And plain HTTP on a WebSocket path
// answers 426 with a hint.
import t from 'tap'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { runServer, startServer } from './helpers/process.ts'

const SECRET = 'footguns-test-secret-long-enough-for-hs256'
/** No key from the caller's environment leaks into a case that needs none. */
const NO_KEYS = { JWT_SECRET: '', JWT_PUBLIC_KEY: '' }

/** Run the server with `env`; resolve with its exit code and every line it printed. */
async function refused(env: Record<string, string>): Promise<{ code: number | null; lines: string[] }> {
  const s = runServer({ ...NO_KEYS, ...env })
  const { code } = await s.exited
  return { code, lines: s.output().split('\n').filter((l) => l !== '') }
}

t.test('each bad setting: exactly one line naming the variable and the rule, exit 78', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'footguns-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'a-file')
  writeFileSync(file, '')
  const cases: [Record<string, string>, string][] = [
    [{ TRUST_PROXY: 'maybe' }, 'TRUST_PROXY=maybe: must be false, true, a hop count (1, 2…) or comma-separated IP addresses/CIDRs (10.0.0.0/8, ::1, loopback)'],
    [{ JWT_PUBLIC_KEY: 'garbage' }, 'JWT_PUBLIC_KEY: must be a PEM public key (-----BEGIN PUBLIC KEY-----…; write line breaks as \\n in .env files)'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL=loud: must be one of fatal, error, warn, info, debug, trace, silent (pino log level)'],
    [{ JWT_SECRET: 'changeme' }, 'JWT_SECRET: must be at least 32 bytes, got 8 (a short HS256 secret can be guessed from any token; NODE_ENV=development allows one)'],
    [{ JWT_SECRET: 'changeme', NODE_ENV: 'production' }, 'JWT_SECRET: must be at least 32 bytes, got 8 (a short HS256 secret can be guessed from any token; NODE_ENV=development allows one)'],
    [{ ALLOWED_ORIGINS: 'https://app.example/' }, 'ALLOWED_ORIGINS=https://app.example/: "https://app.example/" is not an origin: list * or origins exactly as browsers send them, scheme://host[:port] with no path or trailing slash'],
    [{ WS_GREETING: 'yes' }, 'WS_GREETING=yes: must be true or false (send the WELCOME greeting on /ws)'],
    [{ PUBLIC_BASE_URL: 'example.com' }, 'PUBLIC_BASE_URL=example.com: must be an http:// or https:// URL'],
    [{ WALKERS_DIR: join(dir, 'walkers') }, `WALKERS_DIR=${join(dir, 'walkers')}: must be an existing directory of walker modules (${join(dir, 'walkers')} is missing)`],
    [{ HISTORY_STORE: 'sqlite', DATA_DIR: file }, `DATA_DIR=${file}: must be a directory or a path where one can be created (${file} is not a directory; HISTORY_STORE=sqlite keeps history.db there)`]
  ]
  for (const [env, message] of cases) {
    const r = await refused(env)
    t.same(r, { code: 78, lines: [`switchboard: invalid configuration: ${message}`] }, JSON.stringify(env))
  }
})

t.test('the short secret is never printed, whatever it is', async (t) => {
  const r = await refused({ JWT_SECRET: 'hunter2-but-short' })
  t.equal(r.code, 78)
  t.notMatch(r.lines.join('\n'), /hunter2/)
})

t.test('NODE_ENV=development accepts a short JWT_SECRET', async (t) => {
  const s = await startServer({ JWT_SECRET: 'dev', NODE_ENV: 'development' })
  t.teardown(() => void s.proc.kill('SIGKILL'))
  t.ok(s.port > 0, `listening on ${s.port}`)
})

t.test('a port already in use: one line, exit 98', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  // LOG_LEVEL=error: the info lines of a normal startup are not what this checks.
  const r = await refused({ PORT: String(port), LOG_LEVEL: 'error', JWT_SECRET: SECRET })
  t.same(r, {
    code: 98,
    lines: [`switchboard: cannot listen: 127.0.0.1:${port} is already in use: stop what listens there or set PORT to a free port (PORT=0 picks one)`]
  })
})

t.test('walkers that need a token but no key: one warning at startup; with a key, none', async (t) => {
  const warning = 'walkers that need a token are loaded (SecureChat, WhoAmI) but neither JWT_SECRET nor JWT_PUBLIC_KEY is set: no token can verify, so they answer UNAUTHORIZED to everyone'
  const bare = await startServer({ ...NO_KEYS })
  t.teardown(() => void bare.proc.kill('SIGKILL'))
  const warned = bare.output().split('\n').filter((l) => l.includes('walkers that need a token'))
  t.equal(warned.length, 1, 'one line')
  const line = JSON.parse(warned[0]!) as { level: number; msg: string; walkers: string[] }
  t.same([line.level, line.msg, line.walkers], [40, warning, ['SecureChat', 'WhoAmI']])

  const keyed = await startServer({ JWT_SECRET: SECRET })
  t.teardown(() => void keyed.proc.kill('SIGKILL'))
  t.notMatch(keyed.output(), /walkers that need a token/)
})

t.test('plain HTTP on a WebSocket path: 426, Upgrade: websocket, a one-line hint', async (t) => {
  const s = await startServer({ JWT_SECRET: SECRET })
  t.teardown(() => void s.proc.kill('SIGKILL'))
  const base = `http://127.0.0.1:${s.port}`
  for (const path of ['/ws', '/ws/echo', '/ws/health', '/ws/Greeting', '/ws/SecureChat', '/ws/no-such-walker']) {
    const res = await fetch(`${base}${path}?token=secret-token`)
    t.equal(res.status, 426, `GET ${path}`)
    t.equal(res.headers.get('upgrade'), 'websocket')
    t.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8')
    t.equal(await res.text(), `${path} is a WebSocket endpoint: open it with a WebSocket client, e.g. npx wscat -c ws://127.0.0.1:${s.port}${path} (the chat page is at /)\n`, 'the hint, without the query')
  }
  const head = await fetch(`${base}/ws`, { method: 'HEAD' })
  t.same([head.status, head.headers.get('upgrade')], [426, 'websocket'], 'HEAD too')
  t.equal((await fetch(`${base}/health`)).status, 200, 'HTTP routes are untouched')
  t.equal((await fetch(`${base}/no/such/page`)).status, 404)

  // The same paths still upgrade.
  const c = await WsTestClient.connect(`ws://127.0.0.1:${s.port}/ws/echo`)
  t.equal((await c.receiveJson<{ type: string }>()).type, 'welcome')
  await c.close()
})
