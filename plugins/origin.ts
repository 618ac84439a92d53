// Refuses a WebSocket handshake from a browser origin that is not allowed, with HTTP 403
// before the upgrade (SPEC section 0). Allowed: no Origin (non-browser clients), an origin whose
// host is the request's Host, any origin in ALLOWED_ORIGINS, everything with `*`.
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
  app.addHook('onRequest', async (request, reply) => {
    if (!request.ws) return
    if (originAllowed(request.headers.origin, request.headers.host, app.config)) return
    request.log.info({ origin: request.headers.origin }, 'handshake refused: origin not allowed')
    return reply.code(403).send({ error: 'Forbidden', message: 'origin not allowed' })
  })
}, { name: 'origin', dependencies: ['config', 'websocket'], fastify: '5.x' })
