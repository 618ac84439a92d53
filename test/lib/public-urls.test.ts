// The default public URLs (SPEC section 5: from the listen address): a hostname or IPv4 as is,
// loopback and any-address as localhost, an IPv6 address in brackets, explicit settings first.
import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { publicUrls } from '../../src/lib/public-urls.ts'

const at = (env: Record<string, string>) => publicUrls(loadConfig({ LOG_LEVEL: 'silent', ...env }), { address: '', family: 'IPv4', port: 8123 })

t.test('defaults from the listen address', async (t) => {
  t.same(at({ HOST: '0.0.0.0' }), { base: 'http://localhost:8123', ws: 'ws://localhost:8123/ws' })
  t.same(at({ HOST: '::' }), { base: 'http://localhost:8123', ws: 'ws://localhost:8123/ws' })
  t.same(at({ HOST: '10.1.2.3' }), { base: 'http://10.1.2.3:8123', ws: 'ws://10.1.2.3:8123/ws' })
  t.same(at({ HOST: 'chat.internal' }), { base: 'http://chat.internal:8123', ws: 'ws://chat.internal:8123/ws' })
  t.same(at({ HOST: '2001:db8::1' }), { base: 'http://[2001:db8::1]:8123', ws: 'ws://[2001:db8::1]:8123/ws' }, 'IPv6 in brackets: a valid URL')
  t.doesNotThrow(() => new URL(at({ HOST: 'fe80::1' }).ws))
  t.same(at({ HOST: '::', PUBLIC_BASE_URL: 'https://chat.example.com' }), { base: 'https://chat.example.com', ws: 'wss://chat.example.com/ws' })
})
