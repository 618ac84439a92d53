// Decorates app.rateLimits: FastChat's per-user limits (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN).
// Per user, not per socket: a reconnect does not reset them. With the Redis backplane the counts
// live in Redis (rate-limiter-flexible), shared by every instance; while Redis is away each
// instance counts in memory (the insurance limiter) instead of not limiting at all. Without
// Redis they are synchronous in-process counters (src/chat/rate-limits.ts, WindowCounter).
// The per-connection frame budget (WS_FRAMES_PER_SEC) is the transport's, in src/transport.
import fp from 'fastify-plugin'
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible'
import { RateLimits, WindowCounter, type Limiter } from '../src/chat/rate-limits.ts'
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
  const limiter = (keyPrefix: string, points: number): Limiter => {
    if (!(backplane instanceof RedisBackplane)) return new WindowCounter(points, 60_000)
    return new RateLimiterRedis({
      storeClient: backplane.link.cmd,
      keyPrefix: `${PREFIX}rl:${keyPrefix}`,
      points,
      duration: 60,
      // Straight to the insurance limiter while the connection is down, without a failed call.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration: 60 })
    })
  }
  app.decorate('rateLimits', new RateLimits({
    msg: limiter('chat_msg', c.CHAT_MSG_PER_MIN),
    typing: limiter('chat_typing', c.CHAT_TYPING_PER_MIN)
  }))
}, { name: 'rate-limit', dependencies: ['config'], fastify: '5.x' })
