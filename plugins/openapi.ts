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
    security: [{ adminToken: [] }]
  },
  '/admin/api/users/:user_id/disconnect': {
    tags: ['admin'],
    summary: 'Close every connection of a user, with a stated close code and reason',
    security: [{ adminToken: [] }]
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
    transform({ schema, url, route }) {
      if ((route as { websocket?: boolean }).websocket) return { schema: { ...schema, hide: true }, url }
      const listed = LISTED[url]
      if (listed) return { schema: { ...listed, ...schema, hide: false }, url }
      return { schema, url }
    }
  })
}, { name: 'openapi', fastify: '5.x' })
