// The operators' console (docs/admin.md): GET /admin and its bundled script are a shell with no
// data in it, served to anyone; everything with data wants ADMIN_TOKEN and answers 401 without
// it: WS /admin/ws (the live feed and the disconnect action), GET /admin/api/state, POST
// /admin/api/users/:user_id/disconnect. The socket passes the same origin check as every other
// socket (plugins/admission.ts) before the token is looked at.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { bundled, page, serveAssets, sourceMap, TYPES } from '../src/lib/web-assets.ts'
import { AdminError } from '../src/admin/console.ts'

const routes: FastifyPluginAsync = async (app) => {
  const { auth, console: view } = app.admin

  serveAssets(app, {
    '/admin': page('admin.html', TYPES.html),
    '/admin.js': bundled('admin.js', TYPES.js),
    '/admin.css': bundled('admin.css', TYPES.css),
    '/admin.js.map': sourceMap('admin.js')
  }, { 'cache-control': 'no-store' })

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
