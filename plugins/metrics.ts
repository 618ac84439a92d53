// Decorates app.metrics (src/metrics/metrics.ts) and makes the connection registry report every
// connection and frame to it. Gauges read their sources when scraped, so nothing here keeps a
// timer. Served by routes/metrics.ts as GET /metrics.
import fp from 'fastify-plugin'
import { Metrics } from '../src/metrics/metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

export default fp(async (app) => {
  const metrics = new Metrics({
    connections: (surface) => app.connections.count(surface),
    // Presence and the backplane belong to FastChat and may be absent (a bare app, a test);
    // read them when scraped, duck-typed, so metrics never depends on their plugins.
    presenceSize() {
      if (!app.hasDecorator('presence')) return 0
      const size = (app.presence as { size?: unknown }).size
      return typeof size === 'number' ? size : 0
    },
    backplaneUp() {
      if (!app.hasDecorator('backplane')) return 0
      // The in-memory backplane is always up; a networked one (Redis) reports `healthy`.
      const healthy = (app.backplane as { healthy?: unknown }).healthy
      return healthy === false ? 0 : 1
    }
  })
  app.decorate('metrics', metrics)
  app.connections.observer = {
    opened: (surface) => metrics.connectionOpened(surface),
    frame: (surface, direction, data, isBinary) => metrics.frame(surface, direction, data, isBinary),
    closed: (surface, code) => metrics.connectionClosed(surface, code)
  }
}, { name: 'metrics', dependencies: ['config', 'websocket'], fastify: '5.x' })
