// Decorates app.lifecycle: when the process started and whether it is shutting down, so
// /health can answer 503 the moment a drain begins and the proxy stops routing here.
import fp from 'fastify-plugin'

export class Lifecycle {
  readonly startedAt = Date.now()
  shuttingDown = false

  beginShutdown(): void {
    this.shuttingDown = true
  }

  get uptimeSeconds(): number {
    return (Date.now() - this.startedAt) / 1000
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
  }
}

export default fp(async (app) => {
  const lifecycle = new Lifecycle()
  app.decorate('lifecycle', lifecycle)
  // The drain begins with close(): mark it first so /health turns 503 before sockets go.
  app.addHook('preClose', async () => lifecycle.beginShutdown())
  // While draining, new requests and upgrades are refused (Fastify's own 503-on-closing is off
  // so that /health can still answer with its body, status "unavailable").
  app.addHook('onRequest', async (request, reply) => {
    if (!lifecycle.shuttingDown || request.routeOptions.url?.startsWith('/health')) return
    reply.header('connection', 'close')
    return reply.code(503).send({ error: 'Service Unavailable', message: 'server shutting down' })
  })
}, { name: 'lifecycle', fastify: '5.x' })
