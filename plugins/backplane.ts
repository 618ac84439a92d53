// Decorates app.backplane: the state FastChat instances share (src/backplane). With REDIS_URL
// set, over Redis, so several instances act as one service (SPEC section 8); without it, in
// this process. On close this instance's users leave presence and Redis connections quit.
import fp from 'fastify-plugin'
import type { Backplane } from '../src/backplane/backplane.ts'
import { MemoryBackplane } from '../src/backplane/memory.ts'
import { RedisBackplane } from '../src/backplane/redis.ts'

declare module 'fastify' {
  interface FastifyInstance {
    backplane: Backplane
  }
}

export default fp(async (app) => {
  const c = app.config
  // The URL may carry a password: it is never logged.
  const backplane: Backplane = c.REDIS_URL
    ? await RedisBackplane.connect({ url: c.REDIS_URL, instanceTtlS: c.INSTANCE_TTL_S, log: app.log.child({ component: 'backplane' }) })
    : new MemoryBackplane()
  app.decorate('backplane', backplane)
  app.addHook('onClose', async () => backplane.close())
}, { name: 'backplane', dependencies: ['config'], fastify: '5.x' })
