// The operators' console (docs/admin.md): GET /admin and its bundled script are a shell with no
// data in it, served to anyone; everything with data wants ADMIN_TOKEN and answers 401 without
// it: WS /admin/ws (the live feed and the disconnect action), GET /admin/api/state, POST
// /admin/api/users/:user_id/disconnect. The socket passes the same origin check as every other
// socket (plugins/admission.ts) before the token is looked at.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { bundled, page, serveAssets, sourceMap, TYPES } from '../src/lib/web-assets.ts'
import { AdminError } from '../src/admin/console.ts'
import { isPlainObject } from '../src/lib/json.ts'

const routes: FastifyPluginAsync = async (app) => {
  const { auth, console: view } = app.admin

  serveAssets(app, {
    '/admin': page('admin.html', TYPES.html),
    '/admin.js': bundled('admin.js', TYPES.js),
    '/admin.css': bundled('admin.css', TYPES.css),
    '/admin.js.map': sourceMap('admin.js')
  }, { 'cache-control': 'no-store' })

  // An empty JSON body is no body: the action's body is optional, also for a client that always
  // sends `content-type: application/json`, to which Fastify's own parser answers 400. These
  // routes only (this plugin is encapsulated); anything else goes to Fastify's parser as before.
  const json = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if ((body as string).trim() === '') return done(null, undefined)
    json(req, body as string, done)
  })

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

  app.post<{ Params: { user_id: string }; Body: unknown }>('/admin/api/users/:user_id/disconnect', {
    onRequest: requireToken,
    // No body schema: the body is optional (defaults apply), and disconnect() checks what is there.
    schema: { hide: true }
  }, async (req, reply) => {
    try {
      const body = req.body ?? {}
      if (!isPlainObject(body)) throw new AdminError('the body: a JSON object {"code"?, "reason"?}, or none')
      return reply.send(view!.disconnect(req.params.user_id, body.code, body.reason))
    } catch (err) {
      if (!(err instanceof AdminError)) throw err
      return reply.code(400).send({ error: 'Bad Request', message: err.message })
    }
  })
}

export default routes
