// Who may come in, decided before any upgrade: while draining, nothing but /health (503, so a
// proxy moves traffic away); a WebSocket handshake from a browser origin that is not allowed
// gets 403 (SPEC section 0). Allowed origins: none sent (non-browser clients), one whose host is
// the request's Host, any in ALLOWED_ORIGINS, everything with `*`.
// Registered after @fastify/websocket, whose onRequest hook marks upgrades (request.ws) and
// whose onResponse hook then releases a refused upgrade's socket.
import fp from 'fastify-plugin'
import type { Config } from '../src/config.ts'

export function originAllowed(origin: string | undefined, host: string | undefined, config: Config): boolean {
  if (origin === undefined) return true
  if (config.allowAnyOrigin || config.allowedOrigins.includes(origin)) return true
  if (!host) return false
  try {
    return new URL(origin).host === host.toLowerCase()
  } catch {
    return false
  }
}

export default fp(async (app) => {
  // Optional so admission also runs on a bare Fastify (its own tests) without metrics.
  const refused = (reason: 'origin' | 'draining') => {
    if (app.hasDecorator('metrics')) app.metrics.countRefusal(reason)
  }
  app.addHook('onRequest', async (request, reply) => {
    // Fastify's own 503-on-closing is off so that /health can still answer with its body.
    // /metrics stays up too: a scrape during the drain shows it progressing.
    if (app.lifecycle.shuttingDown && !request.routeOptions.url?.startsWith('/health') && request.routeOptions.url !== '/metrics') {
      if (request.ws) refused('draining')
      reply.header('connection', 'close')
      return reply.code(503).send({ error: 'Service Unavailable', message: 'server shutting down' })
    }
    if (!request.ws) return
    if (originAllowed(request.headers.origin, request.headers.host, app.config)) return
    request.log.info({ origin: request.headers.origin }, 'handshake refused: origin not allowed')
    refused('origin')
    return reply.code(403).send({ error: 'Forbidden', message: 'origin not allowed' })
  })
}, { name: 'admission', dependencies: ['config', 'lifecycle', 'websocket'], fastify: '5.x' })
