// The FastChat app's flat dialect (SPEC section 10), in one process and across two instances over
// Redis, where the two tabs (or the tab and the enveloped user) are on different instances.
import t from 'tap'
import { flatSuite, mixedSuite } from './fastchat/flat.ts'
import { inProcess } from './helpers/fastchat.ts'
import { twoInstances } from './helpers/redis.ts'

t.test('flat, in memory', async (t) => flatSuite(t, inProcess))
t.test('flat and enveloped, in memory', async (t) => mixedSuite(t, inProcess))
t.test('flat, two instances over Redis', async (t) => flatSuite(t, twoInstances))
t.test('flat and enveloped, two instances over Redis', async (t) => mixedSuite(t, twoInstances))
