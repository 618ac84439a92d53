// Decorates app.walkerBroadcast, the fan-out behind `broadcast: true` walkers: the backplane's
// walker fan-out, in this process or across instances over Redis (SPEC section 8), so
// routes/walkers.ts is the same either way.
import fp from 'fastify-plugin'
import type { Fanout } from '../src/backplane/backplane.ts'

declare module 'fastify' {
  interface FastifyInstance {
    walkerBroadcast: Fanout
  }
}

export default fp(async (app) => {
  app.decorate('walkerBroadcast', app.backplane.fanout('walker'))
}, { name: 'walker-broadcast', dependencies: ['backplane'], fastify: '5.x' })
