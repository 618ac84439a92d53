// Decorates app.backplane: the state FastChat instances share (src/backplane), which also makes
// the rate limiters and walker fan-out. With REDIS_URL set it is shared through Redis, so several
// instances act as one service (SPEC section 8); without it, in this process. On close this
// instance's users leave presence and its connections to the shared store quit.
import fp from 'fastify-plugin'
import type { Backplane } from '../src/backplane/backplane.ts'
import { openBackplane } from '../src/backplane/open.ts'

declare module 'fastify' {
  interface FastifyInstance {
    backplane: Backplane
  }
}

export default fp(async (app) => {
  const c = app.config
  const backplane = await openBackplane({ url: c.REDIS_URL, instanceTtlS: c.INSTANCE_TTL_S, log: app.log.child({ component: 'backplane' }) })
  app.decorate('backplane', backplane)
  app.addHook('onClose', async () => backplane.close())
}, { name: 'backplane', dependencies: ['config'], fastify: '5.x' })
