// Decorates app.admission (src/transport/admission.ts: draining, origins, connection caps) and
// applies it to every request Fastify routes, before any upgrade. The direct upgrade of
// plugins/websocket.ts applies the same object to the handshakes it takes. The client's address
// is request.ip, which honours TRUST_PROXY. Registered after @fastify/websocket, whose onRequest
// hook marks upgrades (request.ws) and whose onResponse hook then releases a refused upgrade's socket.
import fp from 'fastify-plugin'
import { Admission } from '../src/transport/admission.ts'

declare module 'fastify' {
  interface FastifyInstance {
    admission: Admission
  }
}

export default fp(async (app) => {
  // Optional so admission also runs on a bare Fastify (its own tests) without metrics.
  const admission = new Admission(app.config, () => app.lifecycle.shuttingDown, (reason) => {
    if (app.hasDecorator('metrics')) app.metrics.countRefusal(reason)
  })
  app.decorate('admission', admission)
  // Callback style, not async: it runs for every request and handshake, and an async hook costs
  // a promise and a microtask turn each (issue 17, connection establishment). A hook that
  // replied does not call done. Fastify's own 503-on-closing is off (plugins/lifecycle.ts).
  app.addHook('onRequest', (request, reply, done) => {
    const refusal = admission.check({
      route: request.routeOptions.url,
      upgrade: request.ws,
      origin: request.headers.origin,
      host: request.headers.host,
      ip: request.ip,
      // An injected upgrade (app.injectWS) has no socket and holds no slot.
      socket: request.raw.socket as typeof request.raw.socket | undefined
    }, () => request.log)
    if (!refusal) return done()
    reply.headers(refusal.headers).code(refusal.status).send(refusal.body)
  })
}, { name: 'admission', dependencies: ['config', 'lifecycle', 'websocket'], fastify: '5.x' })
