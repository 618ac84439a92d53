// GET /asyncapi.json: the AsyncAPI 3.0 document of every WebSocket surface, built from the
// schemas that validate the wire (src/docs). Rebuilt per request so hot-reloaded walkers show.
import type { FastifyPluginAsync } from 'fastify'
import { buildAsyncApi } from '../src/docs/asyncapi.ts'
import { coreSurfaces, walkerSurfaces } from '../src/docs/surfaces.ts'
import { publicUrls } from '../src/lib/public-urls.ts'
import { VERSION } from '../src/version.ts'

const routes: FastifyPluginAsync = async (app) => {
  app.get('/asyncapi.json', { schema: { summary: 'AsyncAPI 3.0 document of every WebSocket surface' } }, async () => {
    const wsBase = new URL(publicUrls(app.config, app.server.address()).ws).origin
    return buildAsyncApi([...coreSurfaces(), ...walkerSurfaces(app.walkers.list())], { version: VERSION, wsBase })
  })
}

export default routes
