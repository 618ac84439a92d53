import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkPaths, ConfigError, loadConfig } from '../src/config.ts'
import { withConfigTable, withRulesTable } from '../src/cli/config-doc.ts'

t.test('defaults', async (t) => {
  const c = loadConfig({})
  t.equal(c.PORT, 8000)
  t.equal(c.HOST, '127.0.0.1')
  t.equal(c.WS_PING_INTERVAL, 30)
  t.equal(c.WS_PING_TIMEOUT, 10)
  t.equal(c.WS_MAX_PAYLOAD, 65536)
  t.equal(c.WS_GREETING, true)
  t.equal(c.SHUTDOWN_GRACE_MS, 10000)
  t.equal(c.AUTH_REQUIRED, false)
  t.same(c.allowedOrigins, [])
  t.equal(c.allowAnyOrigin, false)
})

t.test('conversions: fractions, booleans, lists, empty strings', async (t) => {
  const c = loadConfig({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5', WS_GREETING: 'false', ALLOWED_ORIGINS: 'http://a, *,http://b', PORT: '' })
  t.equal(c.WS_PING_INTERVAL, 1)
  t.equal(c.WS_PING_TIMEOUT, 0.5)
  t.equal(c.WS_GREETING, false)
  t.same(c.allowedOrigins, ['http://a', 'http://b'])
  t.equal(c.allowAnyOrigin, true)
  t.equal(c.PORT, 8000, 'an empty string counts as unset')
})

t.test('bad values name the variable and the rule', async (t) => {
  t.throws(() => loadConfig({ PORT: 'abc' }), new ConfigError('PORT=abc: must be an integer from 0 to 65535 (TCP port to listen on (0 picks a free one))'))
  t.throws(() => loadConfig({ PORT: '70000' }), /^PORT=70000: must be an integer from 0 to 65535 /)
  t.throws(() => loadConfig({ WS_PING_TIMEOUT: '30' }), /WS_PING_TIMEOUT=30: must be below WS_PING_INTERVAL \(30\)/)
  t.throws(() => loadConfig({ WS_PING_INTERVAL: '0' }), /^WS_PING_INTERVAL=0/)
  t.throws(() => loadConfig({ WS_GREETING: 'maybe' }), /^WS_GREETING=maybe/)
})

t.test('a value is read only as written: no exponent, fraction or boolean taken for an integer (the converter read 1e4 as 1)', async (t) => {
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ SHUTDOWN_GRACE_MS: '1e4' }, /^SHUTDOWN_GRACE_MS=1e4: must be an integer from 0 to 600000 /],
    [{ WS_MAX_PAYLOAD: '1e6' }, /^WS_MAX_PAYLOAD=1e6: must be an integer/],
    [{ MAX_CONNECTIONS: '2.5e4' }, /^MAX_CONNECTIONS=2.5e4: must be an integer/],
    [{ PORT: '8000.5' }, /^PORT=8000.5: must be an integer/],
    [{ PORT: 'false' }, /^PORT=false: must be an integer/],
    [{ WS_FRAMES_PER_SEC: 'true' }, /^WS_FRAMES_PER_SEC=true: must be an integer/],
    [{ PORT: '80 80' }, /^PORT=80 80: must be an integer/],
    [{ WS_PING_INTERVAL: '3e1' }, /^WS_PING_INTERVAL=3e1: must be a number/],
    [{ WS_PING_INTERVAL: '30s' }, /^WS_PING_INTERVAL=30s: must be a number/],
    [{ WS_GREETING: '1' }, /^WS_GREETING=1: must be true or false/]
  ]
  for (const [env, rule] of refused) t.throws(() => loadConfig(env), rule, JSON.stringify(env))
  const c = loadConfig({ PORT: '+8080', SHUTDOWN_GRACE_MS: '10000', WS_PING_INTERVAL: '.5', WS_PING_TIMEOUT: '0.25', WS_GREETING: 'TRUE' })
  t.same([c.PORT, c.SHUTDOWN_GRACE_MS, c.WS_PING_INTERVAL, c.WS_PING_TIMEOUT, c.WS_GREETING], [8080, 10000, 0.5, 0.25, true], 'what is written plainly still reads')
})

t.test('README config table matches the schema (npm run config:doc regenerates it)', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  t.equal(withConfigTable(readme), readme)
})

t.test('docs/configuration.md lists every variable with the rule startup enforces (npm run config:doc)', async (t) => {
  const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8')
  t.equal(withRulesTable(doc), doc)
})

/** The one line loadConfig throws for `env`. */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  return '(accepted)'
}

t.test('every variable states its rule in words, with the allowed values', async (t) => {
  t.equal(refusal({ LOG_LEVEL: 'loud' }), 'LOG_LEVEL=loud: must be one of fatal, error, warn, info, debug, trace, silent (pino log level)')
  t.equal(refusal({ HISTORY_STORE: 'disk' }), 'HISTORY_STORE=disk: must be one of sqlite, redis, memory, off (where chat logs live: sqlite, redis, memory or off (default: redis with REDIS_URL, else sqlite))')
  t.equal(refusal({ WS_GREETING: 'yes' }), 'WS_GREETING=yes: must be true or false (send the WELCOME greeting on /ws)')
  t.match(refusal({ WS_PING_INTERVAL: '0' }), /^WS_PING_INTERVAL=0: must be a number above 0 and at most 86400 \(/)
  t.match(refusal({ INSTANCE_TTL_S: '0.5' }), /^INSTANCE_TTL_S=0\.5: must be a number from 1 to 86400 \(/)
  t.match(refusal({ WS_SEND_SOFT_CAP: '10' }), /^WS_SEND_SOFT_CAP=10: must be an integer from 1024 to 1073741824 \(/)
  t.match(refusal({ REDIS_URL: 'http://user:hunter2@cache:6379' }), /^REDIS_URL=http:\/\/\*\*\*@cache:6379: must be a redis:\/\/ or rediss:\/\/ URL/, 'the password is masked')
  t.equal(refusal({ PUBLIC_BASE_URL: 'example.com' }), 'PUBLIC_BASE_URL=example.com: must be an http:// or https:// URL')
  t.equal(refusal({ WS_PUBLIC_URL: 'https://example.com/ws' }), 'WS_PUBLIC_URL=https://example.com/ws: must be a ws:// or wss:// URL')
})

t.test('TRUST_PROXY: false, true, a hop count, or addresses/CIDRs; anything else is refused', async (t) => {
  for (const ok of ['false', 'true', '0', '2', '10.0.0.0/8', '127.0.0.1, ::1', 'loopback,192.168.0.0/16', 'fd00::/8']) {
    t.equal(refusal({ TRUST_PROXY: ok }), '(accepted)', ok)
  }
  const rule = 'must be false, true, a hop count (1, 2…) or comma-separated IP addresses/CIDRs (10.0.0.0/8, ::1, loopback)'
  t.equal(refusal({ TRUST_PROXY: 'maybe' }), `TRUST_PROXY=maybe: ${rule}`)
  t.equal(refusal({ TRUST_PROXY: '10.0.0.0/33' }), `TRUST_PROXY=10.0.0.0/33: ${rule}`)
  t.equal(refusal({ TRUST_PROXY: 'nginx' }), `TRUST_PROXY=nginx: ${rule}`)
})

t.test('ALLOWED_ORIGINS entries are origins exactly as browsers send them', async (t) => {
  t.equal(refusal({ ALLOWED_ORIGINS: 'https://a.example, http://b.example:8080, *' }), '(accepted)')
  const rule = 'is not an origin: list * or origins exactly as browsers send them, scheme://host[:port] with no path or trailing slash'
  t.equal(refusal({ ALLOWED_ORIGINS: 'https://a.example/' }), `ALLOWED_ORIGINS=https://a.example/: "https://a.example/" ${rule}`)
  t.equal(refusal({ ALLOWED_ORIGINS: 'https://ok.example,app.example' }), `ALLOWED_ORIGINS=https://ok.example,app.example: "app.example" ${rule}`)
})

t.test('JWT keys: a garbage public key and a short secret are refused without echoing them', async (t) => {
  t.equal(refusal({ JWT_PUBLIC_KEY: 'garbage' }), 'JWT_PUBLIC_KEY: must be a PEM public key (-----BEGIN PUBLIC KEY-----…; write line breaks as \\n in .env files)')
  const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()
  t.equal(refusal({ JWT_PUBLIC_KEY: ed }), 'JWT_PUBLIC_KEY: must be an RSA (RS256) or EC P-256 (ES256) key, got ed25519')
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  t.equal(refusal({ JWT_PUBLIC_KEY: p384 }), 'JWT_PUBLIC_KEY: must be an RSA (RS256) or EC P-256 (ES256) key, got ec secp384r1')
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  t.equal(refusal({ JWT_PUBLIC_KEY: p256.replace(/\n/g, '\\n') }), '(accepted)', 'a PEM with \\n escapes, as .env files hold it')

  const short = 'JWT_SECRET: must be at least 32 bytes, got 9 (a short HS256 secret can be guessed from any token; NODE_ENV=development allows one)'
  t.equal(refusal({ JWT_SECRET: 'hunter2!!' }), short)
  t.equal(refusal({ JWT_SECRET: 'hunter2!!', NODE_ENV: 'production' }), short)
  t.equal(refusal({ JWT_SECRET: 'hunter2!!', NODE_ENV: 'development' }), '(accepted)')
  t.equal(refusal({ JWT_SECRET: 'x'.repeat(32) }), '(accepted)', '32 bytes is enough')
  t.equal(refusal({ JWT_SECRET: 'é'.repeat(16) }), '(accepted)', 'bytes, not characters: 16 × é is 32 bytes')
})

t.test('checkPaths: WALKERS_DIR must exist, DATA_DIR must be (or become) a directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-paths-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'a-file')
  writeFileSync(file, '')
  const paths = (env: Record<string, string>) => {
    try {
      checkPaths(loadConfig(env))
      return '(accepted)'
    } catch (err) {
      return (err as Error).message
    }
  }
  t.equal(paths({ WALKERS_DIR: join(dir, 'nope') }), `WALKERS_DIR=${join(dir, 'nope')}: must be an existing directory of walker modules (${join(dir, 'nope')} is missing)`)
  t.equal(paths({ WALKERS_DIR: file }), `WALKERS_DIR=${file}: must be an existing directory of walker modules (${file} is not a directory)`)
  t.equal(paths({ DATA_DIR: file }), `DATA_DIR=${file}: must be a directory or a path where one can be created (${file} is not a directory; HISTORY_STORE=sqlite keeps history.db there)`)
  t.equal(paths({ DATA_DIR: join(file, 'sub') }), `DATA_DIR=${join(file, 'sub')}: must be a directory or a path where one can be created (${file} is not a directory; HISTORY_STORE=sqlite keeps history.db there)`)
  t.equal(paths({ DATA_DIR: join(dir, 'new', 'deeper') }), '(accepted)', 'created at startup')
  t.ok(statSync(join(dir, 'new', 'deeper')).isDirectory(), 'level by level, here')
  t.equal(paths({ DATA_DIR: file, HISTORY_STORE: 'memory' }), '(accepted)', 'unused without the SQLite store')
  // Node's recursive mkdir spins forever at 100 % CPU here; level by level it is one refusal.
  t.equal(paths({ DATA_DIR: '/proc/switchboard-nope/data' }), 'DATA_DIR=/proc/switchboard-nope/data: must be a directory or a path where one can be created (cannot create /proc/switchboard-nope: ENOENT; HISTORY_STORE=sqlite keeps history.db there)')
})

t.test('checkPaths: a DATA_DIR the process cannot write to is refused in one line', async (t) => {
  // Root writes anywhere: the check runs as nobody (uid 65534), as a container's unprivileged user would.
  const root = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'config-ro-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  chmodSync(dir, 0o755)
  const ro = join(dir, 'ro')
  mkdirSync(ro, { mode: 0o555 })
  chmodSync(ro, 0o555)
  const script = `const { checkPaths, loadConfig } = await import(${JSON.stringify(new URL('../src/config.ts', import.meta.url).href)})
for (const d of process.argv.slice(1)) { try { checkPaths(loadConfig({ DATA_DIR: d })); console.log('(accepted)') } catch (err) { console.log(err.message) } }`
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ro, join(ro, 'sub')], {
    // A bare environment: tap's own NODE_OPTIONS hooks would try to write its files as nobody.
    encoding: 'utf8', env: { PATH: process.env.PATH }, cwd: fileURLToPath(new URL('..', import.meta.url)), ...(root ? { uid: 65534, gid: 65534 } : {})
  })
  t.same(run.stdout.trim().split('\n'), [
    `DATA_DIR=${ro}: must be a directory or a path where one can be created (${ro} is not writable: EACCES; HISTORY_STORE=sqlite keeps history.db there)`,
    `DATA_DIR=${join(ro, 'sub')}: must be a directory or a path where one can be created (cannot create ${join(ro, 'sub')}: EACCES; HISTORY_STORE=sqlite keeps history.db there)`
  ], run.stderr)
})
