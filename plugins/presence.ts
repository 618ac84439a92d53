// Decorates app.presence: who is online service-wide (through the backplane) and the coalesced
// PRESENCE broadcasts (PRESENCE_DEBOUNCE_MS) to this instance's local hub, which it creates:
// the hub holds the identified connections and takes the backplane's deliveries for them.
import fp from 'fastify-plugin'
import { LocalHub } from '../src/chat/hub.ts'
import { Presence } from '../src/chat/presence.ts'

declare module 'fastify' {
  interface FastifyInstance {
    presence: Presence
  }
}

export default fp(async (app) => {
  const presence = new Presence(app.backplane, { debounceMs: app.config.PRESENCE_DEBOUNCE_MS }, new LocalHub())
  await presence.start()
  app.decorate('presence', presence)
  app.addHook('onClose', async () => presence.stop())
}, { name: 'presence', dependencies: ['config', 'backplane'], fastify: '5.x' })
