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
    // Presence and the backplane belong to FastChat, registered after this plugin and absent
    // from a bare app: looked up when scraped, so metrics depends on neither.
    presenceSize: () => (app.hasDecorator('presence') ? app.presence.size : 0),
    backplaneUp: () => (app.hasDecorator('backplane') && app.backplane.healthy ? 1 : 0)
  })
  metrics.onUnknownLabel = (label) => app.log.warn({ label }, 'a frame label no protocol schema names; counted as "other"')
  app.decorate('metrics', metrics)
  app.connections.observer = {
    opened: (surface) => metrics.connectionOpened(surface),
    frame: (surface, direction, label) => metrics.countMessage(surface, direction, label),
    error: (code) => metrics.countError(code),
    closed: (surface, code) => metrics.connectionClosed(surface, code)
  }
}, { name: 'metrics', dependencies: ['config', 'websocket'], fastify: '5.x' })
