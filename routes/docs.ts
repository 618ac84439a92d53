// GET /docs: the OpenAPI UI, and /docs/json (/docs/yaml) the document, with the HTTP and webhook
// walkers as they are right now (a hot reload shows on the next request).
import type { FastifyPluginAsync } from 'fastify'
import swaggerUi from '@fastify/swagger-ui'
import { addWalkerPaths } from '../src/walkers/openapi.ts'

const routes: FastifyPluginAsync = async (app) => {
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // The cached document is cloned per request (the default), then the walkers are added.
    transformSpecification: (document) => addWalkerPaths(document as Record<string, unknown>, app.walkers.list())
  })
}

export default routes
