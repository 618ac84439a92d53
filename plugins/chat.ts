// Decorates app.chat: the FastChat domain (src/chat/service.ts) wired to the backplane,
// presence, rate limits, token verifier and history store. routes/ws-main.ts hands it validated messages.
import fp from 'fastify-plugin'
import { ChatService } from '../src/chat/service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    chat: ChatService
  }
}

export default fp(async (app) => {
  const chat = new ChatService(app.backplane, app.presence, app.rateLimits, app.auth, {
    authRequired: app.config.AUTH_REQUIRED, history: app.history, historyTtlS: app.config.HISTORY_TTL_S
  })
  app.decorate('chat', chat)
  app.addHook('onClose', async () => chat.stop())
}, { name: 'chat', dependencies: ['config', 'auth', 'backplane', 'presence', 'rate-limit', 'history'], fastify: '5.x' })
