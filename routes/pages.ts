// Browser pages: the chat page (GET /) with its bundled script, and the playground
// (GET /playground). Read once at startup; the pages are small and static, so no static-file
// server is needed.
import type { FastifyPluginAsync } from 'fastify'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { readBuilt } from '../src/lib/build-output.ts'

// Compiled, this file runs from dist/routes/, but tsc copies no HTML: assets stay in src/web/.
const WEB = fileURLToPath(new URL('../src/web/', import.meta.url).href.replace('/dist/src/web/', '/src/web/'))
/** Where `npm run build:web` (esbuild) writes the chat page's bundle; gitignored. */
const BUNDLE = join(WEB, 'dist')

const read = (name: string) => readFileSync(join(WEB, name))

// Pages load only their own scripts and talk only to this origin.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'"

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'

const routes: FastifyPluginAsync = async (app) => {
  const pages = new Map<string, { body: Buffer; type: string }>([
    ['/', { body: read('chat.html'), type: HTML }],
    ['/chat.js', { body: readBuilt(join(BUNDLE, 'chat.js'), 'npm run build:web'), type: JS }],
    ['/playground', { body: read('playground.html'), type: HTML }],
    ['/playground.js', { body: read('playground.js'), type: JS }]
  ])
  // The source map helps debugging in the browser; a build without one still serves the page.
  const map = join(BUNDLE, 'chat.js.map')
  if (existsSync(map)) pages.set('/chat.js.map', { body: readFileSync(map), type: 'application/json; charset=utf-8' })
  for (const [path, page] of pages) {
    app.get(path, { schema: { hide: true } }, async (_req, reply) =>
      reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').type(page.type).send(page.body))
  }
}

export default routes
