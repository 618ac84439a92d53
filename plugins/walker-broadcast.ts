// Decorates app.walkerBroadcast, the fan-out behind `broadcast: true` walkers. In one process
// it is a map of sockets per walker; with the Redis backplane (SPEC section 8) it also fans out
// over a Redis channel per walker, and routes/walkers.ts does not change.
import fp from 'fastify-plugin'
import { BusWalkerBroadcaster, LocalWalkerBroadcaster, type WalkerBroadcaster } from '../src/walkers/broadcast.ts'
import { RedisBackplane } from '../src/backplane/redis.ts'
import { Channels } from '../src/backplane/redis-scripts.ts'

declare module 'fastify' {
  interface FastifyInstance {
    walkerBroadcast: WalkerBroadcaster
  }
}

export default fp(async (app) => {
  // Optional so the plugin also runs on a bare Fastify without a backplane.
  const backplane = app.hasDecorator('backplane') ? app.backplane : undefined
  const broadcaster: WalkerBroadcaster = backplane instanceof RedisBackplane
    ? new BusWalkerBroadcaster(backplane.link, backplane.instanceId, Channels.walker)
    : new LocalWalkerBroadcaster()
  app.decorate('walkerBroadcast', broadcaster)
}, { name: 'walker-broadcast', fastify: '5.x' })
