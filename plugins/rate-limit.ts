// Decorates app.rateLimits: FastChat's per-user limits (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN).
// Per user, not per socket: a reconnect does not reset them. The backplane makes the limiters:
// with Redis shared by every instance (in memory per instance while Redis is away), without it
// synchronous in-process counters. The per-connection frame budget (WS_FRAMES_PER_SEC) is the
// transport's, in src/transport.
import fp from 'fastify-plugin'
import { RateLimits } from '../src/chat/rate-limits.ts'

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: RateLimits
  }
}

export default fp(async (app) => {
  const c = app.config
  app.decorate('rateLimits', new RateLimits({
    msg: app.backplane.limiter('chat_msg', c.CHAT_MSG_PER_MIN, 60),
    typing: app.backplane.limiter('chat_typing', c.CHAT_TYPING_PER_MIN, 60)
  }))
}, { name: 'rate-limit', dependencies: ['config', 'backplane'], fastify: '5.x' })
