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
}, { name: 'lifecycle', fastify: '5.x' })
