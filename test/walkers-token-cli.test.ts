// `npm run token`: what it prints verifies against the server (app.auth, the one verifier) and
// opens an authenticated walker; without JWT_SECRET it says so.
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startApp } from './helpers/app.ts'
import { TEST_SECRET } from './helpers/tokens.ts'
import { postJson } from './helpers/walkers.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

function npmToken(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npm', ['run', '--silent', 'token', '--', ...args], { cwd: root, env: { ...process.env, JWT_SECRET: '', JWT_PUBLIC_KEY: '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr })
    })
  })
}

t.test('npm run token prints a JWT the server accepts', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  t.teardown(s.close)
  const before = Date.now()
  const r = await npmToken(['--sub', 'alice', '--name', 'Alice', '--ttl', '1h'], { JWT_SECRET: TEST_SECRET })
  t.equal(r.code, 0, r.stderr)
  const token = r.stdout.trim()
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'stdout is the token alone')
  t.match(r.stderr, /token for alice \(Alice\), expires \d{4}-/)

  const after = Date.now()
  const user = await s.app.auth.verify(token)
  t.match(user, { sub: 'alice', name: 'Alice' })
  // exp is whole seconds, set while the command ran: between the two clocks, plus an hour.
  const exp = user!.expiresAt!
  t.ok(exp >= before - 1000 + 3_600_000 && exp <= after + 3_600_000, `expires in an hour (${exp - before} ms after the command started)`)

  const c = await s.connect(`/ws/SecureChat?token=${token}`)
  c.send({ message: 'hi' })
  t.same(await c.receiveJson(), { ok: true, data: { reports: [{ echo: 'hi', authenticated: true }] } })
  const who = await postJson(`${s.http}/walker/WhoAmI`, {}, { authorization: `Bearer ${token}` })
  t.same(who.json, { ok: true, data: { reports: [{ sub: 'alice', name: 'Alice' }] } })
})

t.test('npm run token honours issuer, audience, seconds and extra claims', async (t) => {
  const env = { JWT_SECRET: TEST_SECRET, JWT_ISSUER: 'switchboard-tests', JWT_AUDIENCE: 'walkers' }
  const s = await startApp(env)
  t.teardown(s.close)
  const r = await npmToken(['--sub', 'bob', '--ttl', '90', '--claim', 'role=admin'], env)
  t.equal(r.code, 0, r.stderr)
  const user = await s.app.auth.verify(r.stdout.trim())
  t.match(user, { sub: 'bob', name: 'bob', claims: { iss: 'switchboard-tests', aud: 'walkers', role: 'admin' } })
  const ttl = user!.expiresAt! - Date.now()
  t.ok(ttl > 80_000 && ttl <= 91_000, `--ttl 90 is 90 seconds (${ttl} ms)`)
})

t.test('npm run token fails clearly', async (t) => {
  let r = await npmToken(['--sub', 'alice'], {})
  t.equal(r.code, 78)
  t.equal(r.stdout, '')
  t.match(r.stderr, /JWT_SECRET is not set/)
  r = await npmToken(['--name', 'Alice'], { JWT_SECRET: TEST_SECRET })
  t.equal(r.code, 2)
  t.match(r.stderr, /--sub is required/)
  r = await npmToken(['--sub', 'a', '--ttl', 'soon'], { JWT_SECRET: TEST_SECRET })
  t.equal(r.code, 2)
  t.match(r.stderr, /--ttl "soon"/)
})
