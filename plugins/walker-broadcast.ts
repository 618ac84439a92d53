// Decorates app.walkerBroadcast, the fan-out behind `broadcast: true` walkers. In one process
// it is a map of sockets per walker; several instances (SPEC section 8) replace it here with an
// implementation over the backplane, and routes/walkers.ts does not change.
import fp from 'fastify-plugin'
import { LocalWalkerBroadcaster, type WalkerBroadcaster } from '../src/walkers/broadcast.ts'

declare module 'fastify' {
  interface FastifyInstance {
    walkerBroadcast: WalkerBroadcaster
  }
}

export default fp(async (app) => {
  app.decorate('walkerBroadcast', new LocalWalkerBroadcaster())
}, { name: 'walker-broadcast', fastify: '5.x' })
