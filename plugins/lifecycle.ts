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
  app.addHook('preClose', async () => {
    lifecycle.beginShutdown()
    // Fastify closes idle keep-alive connections, and the server's close waits for the rest. An
    // HTTP connection with no finished request (a browser's preconnect, a health checker's bare
    // TCP connect, a body still arriving) would hold the exit past the grace (then exit 1), so
    // whatever HTTP connection is left when the grace ends is cut.
    const deadline = setTimeout(() => app.server.closeAllConnections(), app.config.SHUTDOWN_GRACE_MS)
    deadline.unref()
    app.server.once('close', () => clearTimeout(deadline))
  })
}, { name: 'lifecycle', dependencies: ['config'], fastify: '5.x' })
