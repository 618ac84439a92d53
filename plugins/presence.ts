// Decorates app.presence: who is online (service-wide, through the backplane), this instance's
// users → connections, and the coalesced PRESENCE broadcasts (PRESENCE_DEBOUNCE_MS).
import fp from 'fastify-plugin'
import { Presence } from '../src/chat/presence.ts'

declare module 'fastify' {
  interface FastifyInstance {
    presence: Presence
  }
}

export default fp(async (app) => {
  const presence = new Presence(app.backplane, { debounceMs: app.config.PRESENCE_DEBOUNCE_MS })
  await presence.start()
  app.decorate('presence', presence)
  app.addHook('onClose', async () => presence.stop())
}, { name: 'presence', dependencies: ['config', 'backplane'], fastify: '5.x' })
