// The operators' console (docs/admin.md): GET /admin and its bundled script are a shell with no
// data in it, served to anyone; everything with data wants ADMIN_TOKEN and answers 401 without
// it: WS /admin/ws (the live feed and the disconnect action), GET /admin/api/state, POST
// /admin/api/users/:user_id/disconnect. The socket passes the same origin check as every other
// socket (plugins/admission.ts) before the token is looked at.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { readBuilt } from '../src/lib/build-output.ts'
import { AdminError } from '../src/admin/console.ts'

// Compiled, this file runs from dist/routes/; the page and its bundle stay in src/web/.
const WEB = fileURLToPath(new URL('../src/web/', import.meta.url).href.replace('/dist/src/web/', '/src/web/'))
const BUNDLE = join(WEB, 'dist')

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'"

const routes: FastifyPluginAsync = async (app) => {
  const { auth, console: view } = app.admin

  const assets = new Map<string, { body: Buffer; type: string }>([
    ['/admin', { body: readFileSync(join(WEB, 'admin.html')), type: 'text/html; charset=utf-8' }],
    ['/admin.js', { body: readBuilt(join(BUNDLE, 'admin.js'), 'npm run build:web'), type: 'text/javascript; charset=utf-8' }],
    ['/admin.css', { body: readBuilt(join(BUNDLE, 'admin.css'), 'npm run build:web'), type: 'text/css; charset=utf-8' }]
  ])
  const map = join(BUNDLE, 'admin.js.map')
  if (existsSync(map)) assets.set('/admin.js.map', { body: readFileSync(map), type: 'application/json; charset=utf-8' })
  for (const [path, asset] of assets) {
    app.get(path, { schema: { hide: true } }, async (_req, reply) =>
      reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-store').type(asset.type).send(asset.body))
  }

  /** Every data route's first hook: no token, no answer (the origin check ran before it, for sockets). */
  const requireToken = async (req: FastifyRequest, reply: FastifyReply) => {
    if (auth.allows(req.headers)) return
    reply.header('www-authenticate', 'Bearer realm="switchboard-admin"').header('cache-control', 'no-store')
    return reply.code(401).send({
      error: 'Unauthorized',
      message: auth.enabled ? 'the admin token is missing or wrong (Authorization: Bearer <ADMIN_TOKEN>)' : 'the admin console is off: set ADMIN_TOKEN'
    })
  }

  app.get('/admin/ws', { websocket: true, onRequest: requireToken }, (socket) => {
    view!.attach(socket)
  })

  app.get<{ Querystring: { q?: string } }>('/admin/api/state', {
    onRequest: requireToken,
    schema: { hide: true, querystring: { type: 'object', properties: { q: { type: 'string', maxLength: 100 } } } }
  }, async (req, reply) => reply.header('cache-control', 'no-store').send(await view!.state(req.query.q ?? '')))

  app.post<{ Params: { user_id: string }; Body: { code?: unknown; reason?: unknown } | null | undefined }>('/admin/api/users/:user_id/disconnect', {
    onRequest: requireToken,
    // No body schema: the body is optional (defaults apply), and disconnect() checks what is there.
    schema: { hide: true }
  }, async (req, reply) => {
    try {
      return reply.send(view!.disconnect(req.params.user_id, req.body?.code, req.body?.reason))
    } catch (err) {
      if (!(err instanceof AdminError)) throw err
      return reply.code(400).send({ error: 'Bad Request', message: err.message })
    }
  })
}

export default routes
