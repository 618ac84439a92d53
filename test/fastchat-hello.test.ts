import t from 'tap'
import { helloSuite } from './fastchat/hello.ts'
import { inProcess } from './helpers/fastchat.ts'
import { loadConfig } from '../src/config.ts'

helloSuite(t, inProcess)

t.test('AUTH_REQUIRED without a key to verify tokens is refused at startup', async (t) => {
  t.throws(() => loadConfig({ AUTH_REQUIRED: 'true' }), /^AUTH_REQUIRED=true: needs JWT_SECRET or JWT_PUBLIC_KEY$/)
  t.equal(loadConfig({ AUTH_REQUIRED: 'true', JWT_SECRET: 'x'.repeat(32) }).AUTH_REQUIRED, true)
})
