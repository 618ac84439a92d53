// Registers @fastify/swagger at the root, before any route, so it sees every route's schema for
// the OpenAPI document served at /docs (routes/docs.ts). WebSocket routes are not HTTP APIs and
// are left out of it; walker paths are added per walker when the document is served.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import { VERSION } from '../src/version.ts'

export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard',
        version: VERSION,
        description: 'HTTP surfaces of Switchboard: health probes and HTTP/webhook walkers. WebSocket surfaces are described in the AsyncAPI document.'
      },
      tags: [
        { name: 'walkers', description: 'POST /walker/:name — HTTP walkers' },
        { name: 'webhooks', description: 'POST /webhook/:name — signed webhook walkers' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          webhookApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' }
        }
      }
    },
    transform({ schema, url, route }) {
      if ((route as { websocket?: boolean }).websocket) return { schema: { ...schema, hide: true }, url }
      return { schema, url }
    }
  })
}, { name: 'openapi', fastify: '5.x' })
