// Registers @fastify/swagger at the root, before any route, so it sees every route's schema for
// the OpenAPI document served at /docs (routes/docs.ts). WebSocket routes are not HTTP APIs and
// are left out of it; walker paths are added per walker when the document is served. Routes
// that hide themselves from the generic route table (the pages, /metrics, the admin API) are
// listed here with a line each, so /docs names every HTTP route a person can call; only assets
// (scripts, source maps, Swagger UI's files), the parametric walker routes (listed per walker)
// and the docs' own routes (named in the description) stay out.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import { VERSION } from '../src/version.ts'

const text = (type: string, description: string) => ({ 200: { description, content: { [type]: { schema: { type: 'string' } } } } })

/** A JSON response of the admin API (routes/admin.ts). */
const json = (description: string, schema: Record<string, unknown>) => ({ description, content: { 'application/json': { schema } } })

/**
 * The admin API's refusals: its own `{error, message}`, or Fastify's (which adds statusCode and
 * code) for a query string that breaks the route's schema.
 */
const ADMIN_ERROR = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'the status text: Unauthorized, Bad Request' },
    message: { type: 'string', description: 'what was wrong' },
    statusCode: { type: 'integer' },
    code: { type: 'string' }
  }
}
const ADMIN_REFUSALS = {
  400: json('Bad Request: a parameter out of bounds (`message` names it)', ADMIN_ERROR),
  401: json('Unauthorized: no ADMIN_TOKEN bearer, a wrong one, or the console off (no ADMIN_TOKEN set); with `WWW-Authenticate: Bearer`', ADMIN_ERROR)
}

const counts = { type: 'object', additionalProperties: { type: 'number' } }
/** GET /admin/api/state (src/admin/console.ts state(); the types in src/admin/feed.ts). */
const ADMIN_STATE = {
  type: 'object',
  required: ['instance', 'version', 'started_at', 'sample', 'users'],
  properties: {
    instance: { type: 'string', description: 'this instance\'s id' },
    version: { type: 'string' },
    started_at: { type: 'integer', description: 'epoch ms the process started' },
    sample: {
      type: ['object', 'null'],
      description: 'the latest one-second sample (null before the first)',
      required: ['t', 'conns', 'in', 'out', 'closes', 'errors', 'refused', 'lag_max_ms', 'lag_p99_ms', 'heap_used', 'rss'],
      properties: {
        t: { type: 'integer', description: 'epoch ms at the end of the second' },
        conns: { ...counts, description: 'open connections per surface' },
        in: { ...counts, description: 'frames received per second, per surface' },
        out: { ...counts, description: 'frames sent per second, per surface' },
        closes: { ...counts, description: 'connections closed in the second, per close code' },
        errors: { ...counts, description: 'error replies in the second, per error code' },
        refused: { ...counts, description: 'handshakes refused in the second, per reason' },
        lag_max_ms: { type: 'number' },
        lag_p99_ms: { type: 'number' },
        heap_used: { type: 'number' },
        rss: { type: 'number' }
      }
    },
    users: {
      type: 'object',
      required: ['local', 'online', 'users', 'matched', 'open_chats'],
      properties: {
        local: { type: 'integer', description: 'users with a connection on this instance' },
        online: { type: 'integer', description: 'users online service-wide' },
        matched: { type: 'integer', description: 'users matching q' },
        open_chats: { type: 'integer', description: 'distinct open chats among the listed users' },
        chats_stale: { type: 'boolean', description: 'some listed user\'s chats are the last ones the chat store gave (Redis slow or away)' },
        users: {
          type: 'array',
          description: 'up to 100 users matching q, newest connection first',
          items: {
            type: 'object',
            required: ['user_id', 'display_name', 'connections', 'chats'],
            properties: {
              user_id: { type: 'string' },
              display_name: { type: 'string' },
              connections: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'surface', 'since', 'dialect', 'history'],
                  properties: {
                    id: { type: 'string' },
                    surface: { type: 'string' },
                    since: { type: 'integer', description: 'epoch ms the socket opened' },
                    dialect: { enum: ['enveloped', 'flat'] },
                    history: { type: 'boolean' }
                  }
                }
              },
              chats: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['chat_id', 'with', 'with_online'],
                  properties: {
                    chat_id: { type: 'string' },
                    with: { type: 'string' },
                    with_name: { type: 'string', description: 'while the partner is online' },
                    with_online: { type: 'boolean' }
                  }
                }
              }
            }
          }
        }
      }
    },
    instances: {
      type: 'object',
      description: 'with REDIS_URL only: every instance (`rows`), or why there is no list this second (`error`, with the last `rows` Redis gave, if any)',
      properties: {
        rows: { type: 'array', items: { type: 'object', description: 'an instance: its id, lease and latest stats' } },
        error: { type: 'string' }
      }
    }
  }
}

/** POST /admin/api/users/:user_id/disconnect: the body may be left out, and each field; absent or null takes the default. */
const DISCONNECT_BODY = {
  type: 'object',
  properties: {
    code: { type: ['integer', 'null'], description: 'the close code: 1000, 1001, 1008, 1011, 1012, 1013 or 4000–4999; default 1008' },
    reason: { type: ['string', 'null'], description: 'the close reason, at most 123 bytes (UTF-8); default "disconnected by an operator"' }
  }
}
const DISCONNECTED = {
  type: 'object',
  required: ['user_id', 'code', 'reason', 'closed'],
  properties: {
    user_id: { type: 'string' },
    code: { type: 'integer' },
    reason: { type: 'string' },
    closed: { type: 'integer', description: 'connections of the user on this instance that were closed' }
  }
}

/** Routes listed although their own files hide them, with what /docs says about each. */
export const LISTED: Readonly<Record<string, Record<string, unknown>>> = {
  '/metrics': {
    tags: ['operations'],
    summary: 'Prometheus metrics of this instance',
    description: 'Prometheus text exposition (connections, frames, closes, walker runs, process). Scrape each instance directly: `ops/nginx/ws.conf` keeps it off the public proxy.',
    response: text('text/plain', 'Prometheus text format 0.0.4')
  },
  '/health': { tags: ['operations'] },
  '/health/live': { tags: ['operations'] },
  '/asyncapi.json': { tags: ['docs'], response: { 200: { description: 'AsyncAPI 3.0: one channel per dialect of every WebSocket surface, walkers included', content: { 'application/json': { schema: { type: 'object' } } } } } },
  '/': { tags: ['pages'], summary: 'The chat page', response: text('text/html', 'HTML page (its script is /chat.js)') },
  '/playground': { tags: ['pages'], summary: 'The playground: try every WebSocket surface in the browser', response: text('text/html', 'HTML page (its script is /playground.js); reads /asyncapi.json') },
  '/admin': { tags: ['pages'], summary: 'The live admin console (its data needs ADMIN_TOKEN: open /admin#token=…)', response: text('text/html', 'HTML page') },
  '/admin/api/state': {
    tags: ['admin'],
    summary: 'The admin console\'s state now: connections, online users (filtered by q), instances',
    security: [{ adminToken: [] }],
    response: { 200: json('The state, as the console\'s live feed shows it', ADMIN_STATE), ...ADMIN_REFUSALS }
  },
  '/admin/api/users/:user_id/disconnect': {
    tags: ['admin'],
    summary: 'Close every connection of a user, with a stated close code and reason',
    security: [{ adminToken: [] }],
    body: DISCONNECT_BODY,
    response: { 200: json('Done: how many of the user\'s connections on this instance were closed (0 when none)', DISCONNECTED), ...ADMIN_REFUSALS }
  }
}

const LINKS = '[Chat](/) · [Playground](/playground) · [API docs](/docs) · [Admin](/admin) · [AsyncAPI document](/asyncapi.json)'

export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard',
        version: VERSION,
        description: `${LINKS}\n\nEvery HTTP route of Switchboard: health probes, metrics, the pages, the documents, and the HTTP and webhook walkers. The WebSocket surfaces are described in the [AsyncAPI document](/asyncapi.json) and can be tried in the [playground](/playground). This page's document is [/docs/json](/docs/json) (also [/docs/yaml](/docs/yaml)).`
      },
      tags: [
        { name: 'operations', description: 'Health probes and metrics' },
        { name: 'pages', description: 'Browser pages' },
        { name: 'docs', description: 'The AsyncAPI document of the WebSocket surfaces' },
        { name: 'admin', description: 'The admin console\'s data (Authorization: Bearer <ADMIN_TOKEN>); its live feed is the /admin/ws WebSocket' },
        { name: 'walkers', description: 'POST /walker/:name — HTTP walkers' },
        { name: 'webhooks', description: 'POST /webhook/:name — signed webhook walkers' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
          webhookApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' }
        }
      }
    },
    // The admin disconnect's body is optional (routes/admin.ts validates none); @fastify/swagger
    // marks every documented body required, as Fastify demands one where it validates it.
    transformObject(documents) {
      if (!('openapiObject' in documents)) return documents.swaggerObject
      const disconnect = documents.openapiObject.paths?.['/admin/api/users/{user_id}/disconnect']?.post
      if (disconnect?.requestBody && !('$ref' in disconnect.requestBody)) disconnect.requestBody.required = false
      return documents.openapiObject
    },
    transform({ schema, url, route }) {
      if ((route as { websocket?: boolean }).websocket) return { schema: { ...schema, hide: true }, url }
      const listed = LISTED[url]
      if (listed) return { schema: { ...listed, ...schema, hide: false }, url }
      return { schema, url }
    }
  })
}, { name: 'openapi', fastify: '5.x' })
