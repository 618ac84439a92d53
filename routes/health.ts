// GET /health (readiness: 503 while draining or while a configured dependency is down) and
// GET /health/live (liveness: 200 while the process runs). SPEC section 1.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { VERSION } from '../src/version.ts'
import { round3 } from '../src/lib/clock.ts'

const HealthBody = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  uptime_s: Type.Number(),
  connections: Type.Integer(),
  version: Type.String(),
  checks: Type.Object({ redis: Type.Union([Type.Literal('disabled'), Type.Literal('ok'), Type.Literal('down')]) })
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    schema: { summary: 'Readiness probe', response: { 200: HealthBody, 503: HealthBody } }
  }, async (_req, reply) => {
    // Down while the Redis the instances share is unreachable: this instance still serves its
    // own users, but the proxy should prefer instances that can reach the rest of the service.
    const redis = !app.config.REDIS_URL ? 'disabled' as const : app.backplane.healthy ? 'ok' as const : 'down' as const
    const ready = !app.lifecycle.shuttingDown && redis !== 'down'
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ok' : 'unavailable',
      uptime_s: round3(app.lifecycle.uptimeSeconds),
      connections: app.connections.size,
      version: VERSION,
      checks: { redis }
    })
  })

  app.get('/health/live', {
    schema: { summary: 'Liveness probe', response: { 200: Type.Object({ status: Type.Literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))
}

export default routes
