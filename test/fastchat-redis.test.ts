// The FastChat socket suites of the earlier issue, unchanged, against two instances sharing one
// real Redis (test/helpers/redis.ts): connections alternate between the instances, so every
// two-user test is a cross-instance test, and every assertion about presence, chats, acks,
// receipts, typing, limits and abuse must hold across instances. The RSS check in the abuse
// suite runs only in-process (it needs the server's memory; this Start gives none).
import t from 'tap'
import { abuseSuite } from './fastchat/abuse.ts'
import { chatSuite } from './fastchat/chat.ts'
import { helloSuite } from './fastchat/hello.ts'
import { limitsSuite } from './fastchat/limits.ts'
import { presenceSuite } from './fastchat/presence.ts'
import { twoInstances } from './helpers/redis.ts'

t.test('hello', async (t) => helloSuite(t, twoInstances))
t.test('presence', async (t) => presenceSuite(t, twoInstances))
t.test('chat', async (t) => chatSuite(t, twoInstances))
t.test('limits', async (t) => limitsSuite(t, twoInstances))
t.test('abuse', async (t) => abuseSuite(t, twoInstances))
