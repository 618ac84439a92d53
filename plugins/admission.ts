// Who may come in, decided before any upgrade: while draining, nothing but /health (503, so a
// proxy moves traffic away); a WebSocket handshake from a browser origin that is not allowed
// gets 403 (SPEC section 0); past MAX_CONNECTIONS_PER_IP for the client's address 429, past
// MAX_CONNECTIONS for the process 503 (src/transport/caps.ts). Allowed origins: none sent
// (non-browser clients), one whose host is the request's Host, any in ALLOWED_ORIGINS,
// everything with `*`. The client's address is request.ip, which honours TRUST_PROXY.
// Registered after @fastify/websocket, whose onRequest hook marks upgrades (request.ws) and
// whose onResponse hook then releases a refused upgrade's socket.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../src/config.ts'
import { addressKey, ConnectionCaps } from '../src/transport/caps.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** WebSocket slots held now, in total and per address (tests and metrics read them). */
    connectionCaps: ConnectionCaps
  }
}

/** Seconds a refused client should wait before trying again (Retry-After). */
const RETRY_AFTER_S = { per_ip: 10, capacity: 5 } as const

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
  const refused = (reason: 'origin' | 'draining' | 'per_ip' | 'capacity') => {
    if (app.hasDecorator('metrics')) app.metrics.countRefusal(reason)
  }
  const caps = new ConnectionCaps(app.config.MAX_CONNECTIONS, app.config.MAX_CONNECTIONS_PER_IP)
  app.decorate('connectionCaps', caps)
  /** Answers a request that may not come in and says so; false lets it through. */
  function refuse(request: FastifyRequest, reply: FastifyReply): boolean {
    // Fastify's own 503-on-closing is off so that /health can still answer with its body.
    // /metrics stays up too: a scrape during the drain shows it progressing.
    if (app.lifecycle.shuttingDown && !request.routeOptions.url?.startsWith('/health') && request.routeOptions.url !== '/metrics') {
      if (request.ws) refused('draining')
      reply.header('connection', 'close')
      reply.code(503).send({ error: 'Service Unavailable', message: 'server shutting down' })
      return true
    }
    if (!request.ws) return false
    if (!originAllowed(request.headers.origin, request.headers.host, app.config)) {
      request.log.info({ origin: request.headers.origin }, 'handshake refused: origin not allowed')
      refused('origin')
      reply.code(403).send({ error: 'Forbidden', message: 'origin not allowed' })
      return true
    }
    // The slot belongs to the TCP socket: its close gives it back, whatever ends it. An
    // injected upgrade (app.injectWS) has no socket and holds no slot.
    const socket = request.raw.socket as typeof request.raw.socket | undefined
    if (!socket) return false
    const slot = caps.admit(addressKey(request.ip))
    if (typeof slot === 'function') {
      socket.once('close', slot)
      return false
    }
    refused(slot)
    // Debug, not info: a client hammering the cap would otherwise flood the log; the refusal
    // counter (switchboard_handshakes_refused_total) shows the rate.
    request.log.debug({ reason: slot }, 'handshake refused: connection cap')
    reply.header('retry-after', String(RETRY_AFTER_S[slot]))
    if (slot === 'per_ip') reply.code(429).send({ error: 'Too Many Requests', message: 'too many connections from this address' })
    else reply.code(503).send({ error: 'Service Unavailable', message: 'server at connection capacity' })
    return true
  }
  // Callback style, not async: it runs for every request and handshake, and an async hook costs
  // a promise and a microtask turn each (issue 17, connection establishment). A hook that
  // replied does not call done.
  app.addHook('onRequest', (request, reply, done) => {
    if (!refuse(request, reply)) done()
  })
}, { name: 'admission', dependencies: ['config', 'lifecycle', 'websocket'], fastify: '5.x' })
