// Decorates app.rateLimits: FastChat's per-user limits (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN)
// over rate-limiter-flexible. Per user, not per socket: a reconnect does not reset them. With
// the Redis backplane the counts live in Redis, shared by every instance; while Redis is away
// each instance counts in memory (the insurance limiter) instead of not limiting at all.
// The per-connection frame budget (WS_FRAMES_PER_SEC) is the transport's, in src/transport.
import fp from 'fastify-plugin'
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { RateLimits } from '../src/chat/rate-limits.ts'
import { RedisBackplane } from '../src/backplane/redis.ts'
import { PREFIX } from '../src/backplane/redis-scripts.ts'

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: RateLimits
  }
}

export default fp(async (app) => {
  const c = app.config
  const backplane = app.hasDecorator('backplane') ? app.backplane : undefined
  const limiter = (keyPrefix: string, points: number): RateLimiterAbstract => {
    const memory = new RateLimiterMemory({ keyPrefix, points, duration: 60 })
    if (!(backplane instanceof RedisBackplane)) return memory
    return new RateLimiterRedis({
      storeClient: backplane.link.cmd,
      keyPrefix: `${PREFIX}rl:${keyPrefix}`,
      points,
      duration: 60,
      // Straight to the insurance limiter while the connection is down, without a failed call.
      rejectIfRedisNotReady: true,
      insuranceLimiter: memory
    })
  }
  app.decorate('rateLimits', new RateLimits({
    msg: limiter('chat_msg', c.CHAT_MSG_PER_MIN),
    typing: limiter('chat_typing', c.CHAT_TYPING_PER_MIN)
  }))
}, { name: 'rate-limit', dependencies: ['config'], fastify: '5.x' })
