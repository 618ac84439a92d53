// Decorates app.backplane: the state FastChat instances share (src/backplane). In memory for
// now; on close this instance's users leave presence.
import fp from 'fastify-plugin'
import type { Backplane } from '../src/backplane/backplane.ts'
import { MemoryBackplane } from '../src/backplane/memory.ts'

declare module 'fastify' {
  interface FastifyInstance {
    backplane: Backplane
  }
}

export default fp(async (app) => {
  if (app.config.REDIS_URL) app.log.warn('REDIS_URL is set but the Redis backplane is not built yet; state stays in this process')
  const backplane = new MemoryBackplane()
  app.decorate('backplane', backplane)
  app.addHook('onClose', async () => backplane.close())
}, { name: 'backplane', dependencies: ['config'], fastify: '5.x' })
