// GET /asyncapi.json: the AsyncAPI 3.0 document of every WebSocket surface, built from the
// schemas that validate the wire (src/docs). Rebuilt per request so hot-reloaded walkers show.
import type { FastifyPluginAsync } from 'fastify'
import { buildAsyncApi } from '../src/docs/asyncapi.ts'
import { coreSurfaces, walkerSurfaces } from '../src/docs/surfaces.ts'
import { publicUrls } from '../src/lib/public-urls.ts'
import { VERSION } from '../src/version.ts'

/**
 * Where the surfaces' addresses start: WS_PUBLIC_URL (by default PUBLIC_BASE_URL's, path
 * included) is /ws's own URL, so what comes before its `/ws` is a proxy's path prefix the
 * document must keep (wss://example.com/switchboard/ws). A URL not ending in /ws says nothing
 * about the other surfaces' paths: its origin only.
 */
function wsBase(wsUrl: string): string {
  const url = new URL(wsUrl)
  const path = url.pathname.replace(/\/+$/, '')
  return path.endsWith('/ws') ? `${url.origin}${path.slice(0, -'/ws'.length)}` : url.origin
}

const routes: FastifyPluginAsync = async (app) => {
  app.get('/asyncapi.json', { schema: { summary: 'AsyncAPI 3.0 document of every WebSocket surface' } }, async () => {
    return buildAsyncApi([...coreSurfaces(), ...walkerSurfaces(app.walkers.list())], { version: VERSION, wsBase: wsBase(publicUrls(app.config, app.server.address()).ws) })
  })
}

export default routes
