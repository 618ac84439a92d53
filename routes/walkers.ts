// Walkers over the wire (SPEC section 6): WS /ws/:walker (one WalkerSession per socket),
// POST /walker/:name (JSON body, bearer token for non-public walkers) and POST /webhook/:name
// (API key + HMAC of the raw body). Every answer is the walker envelope.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { isUtf8 } from 'node:buffer'
import { tokenFromRequest, type VerifiedUser } from '../src/auth/tokens.ts'
import { CloseCode, CloseReason } from '../src/protocol/close-codes.ts'
import { errorReply, Replies, validationReply, WalkerErrorCode, type WalkerReply } from '../src/protocol/walker.ts'
import { executeWalker, isReply, parseInput } from '../src/walkers/execute.ts'
import type { WalkerProtocol } from '../src/walkers/define.ts'
import type { LoadedWalker } from '../src/walkers/registry.ts'
import { MAX_QUEUED_MESSAGES, WalkerSession } from '../src/walkers/session.ts'
import type { Handler, SurfaceOptions } from '../src/transport/connections.ts'
import { WebhookVerifier } from '../src/walkers/webhook-auth.ts'
import { userOfMessageToken } from '../src/walkers/message-token.ts'

type NameParams = { name: string }

const WALKER_SURFACE: SurfaceOptions = {
  surface: 'walker',
  prefix: 'walker_client',
  binary: { frame: Replies.BINARY.frame, label: 'reply_error', errorCode: WalkerErrorCode.VALIDATION },
  maxQueued: MAX_QUEUED_MESSAGES
}
/** The handler of a socket closed at once (no such walker): it handles nothing. */
const NOTHING: Handler = { message() {} }

const NOT_UTF8 = validationReply('Invalid JSON', [{ path: '', message: 'the body is not valid UTF-8' }])

/** The walker `name` when it speaks `protocol`, else the 404 to answer. */
function lookup(walker: LoadedWalker | undefined, protocol: WalkerProtocol): LoadedWalker | WalkerReply {
  if (!walker) return Replies.NOT_FOUND
  if (walker.protocol !== protocol) return errorReply(WalkerErrorCode.NOT_FOUND, `Walker is not configured as ${protocol}`)
  return walker
}

/** A JSON body (a Buffer from the parser below) as walker input, or the VALIDATION reply. */
function bodyInput(body: unknown): Record<string, unknown> | WalkerReply {
  // JSON is UTF-8 (RFC 8259); decoding other bytes would hand the walker U+FFFD in place of
  // what was sent. Refused like invalid UTF-8 in a WebSocket text frame (1007 there).
  if (Buffer.isBuffer(body) && !isUtf8(body)) return NOT_UTF8
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : ''
  // A bodiless POST runs a walker whose fields all have defaults.
  return text.trim() === '' ? {} : parseInput(text)
}

function send(reply: FastifyReply, r: WalkerReply): FastifyReply {
  return reply.code(r.status).type('application/json; charset=utf-8').send(r.frame)
}

/** An AbortSignal for "the HTTP client hung up before we answered". */
function clientGone(request: FastifyRequest, reply: FastifyReply): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController()
  const onClose = () => {
    if (!reply.raw.writableEnded) ac.abort(new Error('client disconnected'))
  }
  reply.raw.once('close', onClose)
  return { signal: ac.signal, dispose: () => reply.raw.off('close', onClose) }
}

const routes: FastifyPluginAsync = async (app) => {
  const { walkers, auth } = app
  const timeoutMs = app.config.WALKER_TIMEOUT_MS
  const sessionDeps = { registry: walkers, verifier: auth, broadcaster: app.walkerBroadcast, timeoutMs }

  app.get<{ Params: { walker: string } }>('/ws/:walker', { websocket: true }, (socket, req) => {
    const name = req.params.walker
    const walker = walkers.get(name)
    if (!walker || walker.protocol !== 'websocket') {
      // Accepted, then closed with the code: clients of the seed protocol expect exactly that.
      const conn = app.connections.add(socket, WALKER_SURFACE, req.id, () => NOTHING)
      if (walker) conn.close(CloseCode.WALKER_NOT_WEBSOCKET, CloseReason.WALKER_NOT_WEBSOCKET)
      else conn.close(CloseCode.WALKER_NOT_FOUND, CloseReason.WALKER_NOT_FOUND)
      return
    }
    const token = tokenFromRequest(req.headers, req.query)
    app.connections.add(socket, WALKER_SURFACE, req.id, (conn) => new WalkerSession(conn, name, sessionDeps, token))
  })

  // The HTTP side reads bodies raw: the webhook signature covers the exact bytes, and parsing
  // ourselves (prototype-safe) makes bad JSON a VALIDATION envelope rather than Fastify's error.
  await app.register(async (http) => {
    http.removeAllContentTypeParsers()
    http.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    http.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, request, reply) => {
      const status = err.statusCode ?? 500
      if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return send(reply, validationReply('Content-Type must be application/json', [], status))
      if (status >= 400 && status < 500) return send(reply, validationReply(err.message, [], status)) // 413…
      request.log.error({ err }, 'walker request failed')
      return send(reply, Replies.EXECUTION_ERROR)
    })

    const webhook = new WebhookVerifier(app.config.webhookApiKeys, app.config.WEBHOOK_SECRET)

    async function run(walker: LoadedWalker, input: Record<string, unknown>, user: VerifiedUser | null, request: FastifyRequest, reply: FastifyReply) {
      const gone = clientGone(request, reply)
      try {
        const log = request.log.child({ walker: walker.name })
        const result = await executeWalker(walker, input, { user, log, signal: gone.signal, timeoutMs })
        return send(reply, result ?? Replies.EXECUTION_ERROR)
      } finally {
        gone.dispose()
      }
    }

    http.post<{ Params: NameParams }>('/walker/:name', { schema: { hide: true } }, async (request, reply) => {
      const walker = lookup(walkers.get(request.params.name), 'http')
      if (isReply(walker)) return send(reply, walker)
      const body = bodyInput(request.body)
      if (isReply(body)) return send(reply, body)
      const { token: bodyToken, ...input } = body
      const requestUser = await auth.verify(tokenFromRequest(request.headers, request.query))
      // A token in the body is the message's own, checked as on WebSocket (message-token.ts).
      if (bodyToken !== undefined) {
        const runs = await userOfMessageToken(walker, bodyToken, requestUser, auth)
        return isReply(runs) ? send(reply, runs) : run(walker, input, runs.user, request, reply)
      }
      if (!walker.public && !requestUser) return send(reply, Replies.UNAUTHORIZED)
      return run(walker, input, requestUser, request, reply)
    })

    http.post<{ Params: NameParams }>('/webhook/:name', { schema: { hide: true } }, async (request, reply) => {
      // Authenticated before the lookup, so unsigned callers cannot list walker names.
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      if (!webhook.verify(request.headers['x-api-key'], request.headers['x-signature'], raw)) {
        request.log.info('webhook refused: bad API key or signature')
        return send(reply, Replies.WEBHOOK_UNAUTHORIZED)
      }
      const walker = lookup(walkers.get(request.params.name), 'webhook')
      if (isReply(walker)) return send(reply, walker)
      const body = bodyInput(raw)
      if (isReply(body)) return send(reply, body)
      // Webhook payloads are passed whole: a provider's own `token` field is data, not auth.
      return run(walker, body, null, request, reply)
    })
  })
}

export default routes
