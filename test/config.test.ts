import t from 'tap'
import { readFileSync } from 'node:fs'
import { ConfigError, loadConfig } from '../src/config.ts'
import { withConfigTable } from '../src/cli/config-doc.ts'

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
  t.throws(() => loadConfig({ PORT: 'abc' }), new ConfigError('PORT=abc: Expected integer (TCP port to listen on (0 picks a free one))'))
  t.throws(() => loadConfig({ PORT: '70000' }), /^PORT=70000: Expected integer to be less or equal to 65535/)
  t.throws(() => loadConfig({ WS_PING_TIMEOUT: '30' }), /WS_PING_TIMEOUT=30: must be below WS_PING_INTERVAL \(30\)/)
  t.throws(() => loadConfig({ WS_PING_INTERVAL: '0' }), /^WS_PING_INTERVAL=0/)
  t.throws(() => loadConfig({ WS_GREETING: 'maybe' }), /^WS_GREETING=maybe/)
})

t.test('README config table matches the schema (npm run config:doc regenerates it)', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  t.equal(withConfigTable(readme), readme)
})
