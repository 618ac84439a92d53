// plugins/backplane.ts, presence.ts, rate-limit.ts and chat.ts on a bare Fastify: each adds its
// decorator, and closing the app releases what they hold.
import t from 'tap'
import Fastify from 'fastify'
import { randomUUID } from 'node:crypto'
import { loadConfig } from '../src/config.ts'
import configPlugin from '../plugins/config.ts'
import authPlugin from '../plugins/auth.ts'
import backplanePlugin from '../plugins/backplane.ts'
import presencePlugin from '../plugins/presence.ts'
import rateLimitPlugin from '../plugins/rate-limit.ts'
import chatPlugin from '../plugins/chat.ts'
import historyPlugin from '../plugins/history.ts'
import { MemoryBackplane } from '../src/backplane/memory.ts'
import { FakePeer } from './helpers/chat-fakes.ts'

t.test('the chat plugins decorate a bare Fastify and clean up on close', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config: loadConfig({ CHAT_MSG_PER_MIN: 2, PRESENCE_DEBOUNCE_MS: 5, HISTORY_STORE: 'memory' }) })
  await app.register(authPlugin)
  await app.register(backplanePlugin)
  await app.register(presencePlugin)
  await app.register(rateLimitPlugin)
  await app.register(historyPlugin)
  await app.register(chatPlugin)
  await app.ready()
  t.type(app.backplane, MemoryBackplane)
  t.equal(await app.rateLimits.consume('msg', 'u'), 0)
  t.equal(await app.rateLimits.consume('msg', 'u'), 0)
  t.ok((await app.rateLimits.consume('msg', 'u')) > 0, 'CHAT_MSG_PER_MIN from config')
  t.equal(await app.rateLimits.consume('typing', 'u'), 0, 'typing has its own budget')

  const peer = new FakePeer()
  const session = app.chat.session(peer)
  const user_id = randomUUID()
  await app.chat.dispatch(session, { type: 'HELLO', data: { user_id, display_name: 'Alice' } })
  t.same(peer.messages.map((m) => m.type), ['HELLO_ACK', 'PRESENCE'])
  t.ok(app.presence.isOnline(user_id))
  const { hub } = app.backplane as MemoryBackplane
  await app.close()
  t.equal(hub.users.size, 0, 'closing the app takes this instance\'s users out of the shared presence')
  t.equal(hub.instances.size, 0, 'and the instance stops receiving')
})

t.test('dependencies are declared: chat without presence fails to load', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config: loadConfig({}) })
  await app.register(authPlugin)
  await app.register(backplanePlugin)
  await app.register(rateLimitPlugin)
  app.register(chatPlugin)
  await t.rejects(async () => app.ready(), /presence/)
})
