// Decorates app.rateLimits: FastChat's per-user limits (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN)
// over rate-limiter-flexible. Per user, not per socket: a reconnect does not reset them.
// The per-connection frame budget (WS_FRAMES_PER_SEC) is the transport's, in src/transport.
import fp from 'fastify-plugin'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { RateLimits } from '../src/chat/rate-limits.ts'

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: RateLimits
  }
}

export default fp(async (app) => {
  const c = app.config
  app.decorate('rateLimits', new RateLimits({
    msg: new RateLimiterMemory({ keyPrefix: 'chat_msg', points: c.CHAT_MSG_PER_MIN, duration: 60 }),
    typing: new RateLimiterMemory({ keyPrefix: 'chat_typing', points: c.CHAT_TYPING_PER_MIN, duration: 60 })
  }))
}, { name: 'rate-limit', dependencies: ['config'], fastify: '5.x' })
