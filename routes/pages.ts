// Browser pages: the chat page (GET /) with its bundled script, and the playground
// (GET /playground). Read once at startup (src/lib/web-assets.ts).
import type { FastifyPluginAsync } from 'fastify'
import { bundled, page, serveAssets, sourceMap, TYPES } from '../src/lib/web-assets.ts'

const routes: FastifyPluginAsync = async (app) => {
  serveAssets(app, {
    '/': page('chat.html', TYPES.html),
    '/chat.js': bundled('chat.js', TYPES.js),
    '/chat.js.map': sourceMap('chat.js'),
    '/playground': page('playground.html', TYPES.html),
    '/playground.js': page('playground.js', TYPES.js)
  })
}

export default routes
