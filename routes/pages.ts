// Browser pages: the playground (GET /playground) and its script. Read once at startup; the
// pages are small and static, so no static-file server is needed.
import type { FastifyPluginAsync } from 'fastify'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

// Compiled, this file runs from dist/routes/, but tsc copies no HTML: assets stay in src/web/.
const WEB = fileURLToPath(new URL('../src/web/', import.meta.url).href.replace('/dist/src/web/', '/src/web/'))

const read = (name: string) => readFileSync(join(WEB, name))

// Pages load only their own scripts and talk only to this origin.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'"

const routes: FastifyPluginAsync = async (app) => {
  const pages = new Map<string, { body: Buffer; type: string }>([
    ['/playground', { body: read('playground.html'), type: 'text/html; charset=utf-8' }],
    ['/playground.js', { body: read('playground.js'), type: 'text/javascript; charset=utf-8' }]
  ])
  for (const [path, page] of pages) {
    app.get(path, { schema: { hide: true } }, async (_req, reply) =>
      reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').type(page.type).send(page.body))
  }
}

export default routes
