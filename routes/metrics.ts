// GET /metrics: Prometheus text for this instance (SPEC section 7). Scrape each instance
// directly; ops/nginx/ws.conf keeps it off the public proxy, where round-robin would mix
// instances' counters in one series.
import type { FastifyPluginAsync } from 'fastify'

const routes: FastifyPluginAsync = async (app) => {
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const body = await app.metrics.scrape()
    return reply.header('cache-control', 'no-store').type(app.metrics.contentType).send(body)
  })
}

export default routes
