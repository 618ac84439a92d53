// OpenAPI entries for HTTP and webhook walkers, with their field schemas. The walker routes are
// parametric and hot reload changes the set, so these are built from the registry each time
// the document is served rather than from Fastify's route table. Websocket walkers are left out.
import type { TObject } from '@sinclair/typebox'
import { WalkerFailure, WalkerSuccess } from '../protocol/walker.ts'
import type { LoadedWalker } from './registry.ts'

type Json = Record<string, unknown>

/** A plain JSON copy (TypeBox's symbol keys dropped). */
const plain = (schema: unknown): Json => JSON.parse(JSON.stringify(schema)) as Json

/** A field with a default may be omitted by the client, whatever TypeBox lists as required. */
function requestSchema(fields: TObject): Json {
  const schema = plain(fields)
  const withDefault = new Set(Object.entries(fields.properties).filter(([, p]) => p.default !== undefined).map(([k]) => k))
  const required = ((schema.required as string[] | undefined) ?? []).filter((k) => !withDefault.has(k))
  if (required.length > 0) schema.required = required
  else delete schema.required
  return schema
}

const envelope = (name: 'WalkerSuccess' | 'WalkerFailure', description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } }
})

function responses(auth: string): Json {
  return {
    200: envelope('WalkerSuccess', 'The walker ran: `data.reports` holds what it reported, in order'),
    400: envelope('WalkerFailure', 'VALIDATION: bad JSON, or fields that break the schema (`error.details`)'),
    401: envelope('WalkerFailure', `UNAUTHORIZED: ${auth}`),
    404: envelope('WalkerFailure', 'NOT_FOUND: no such walker for this route'),
    413: envelope('WalkerFailure', 'VALIDATION: the body is over 1 MiB'),
    415: envelope('WalkerFailure', 'VALIDATION: the body is not `application/json`'),
    500: envelope('WalkerFailure', 'EXECUTION_ERROR: the walker threw or timed out')
  }
}

function operation(walker: LoadedWalker): Json {
  const base = {
    operationId: `${walker.protocol}_${walker.name}`,
    summary: walker.description ?? walker.name,
    requestBody: { required: false, content: { 'application/json': { schema: requestSchema(walker.fields) } } }
  }
  if (walker.protocol === 'webhook') {
    return {
      ...base,
      tags: ['webhooks'],
      description: 'Signed callback: `X-API-Key` is one of WEBHOOK_API_KEYS and `X-Signature` is `sha256=` + the hex HMAC-SHA256 of the raw body with WEBHOOK_SECRET.',
      security: [{ webhookApiKey: [] }],
      parameters: [{
        name: 'X-Signature',
        in: 'header',
        required: true,
        schema: { type: 'string', pattern: '^sha256=[0-9a-fA-F]{64}$' }
      }],
      responses: responses('bad or missing X-API-Key or X-Signature')
    }
  }
  return {
    ...base,
    tags: ['walkers'],
    description: walker.public ? 'Public: no token needed.' : 'Requires `Authorization: Bearer <JWT>`.',
    security: walker.public ? [] : [{ bearerAuth: [] }],
    responses: responses('missing, invalid or expired token')
  }
}

/** Add the walker paths and envelope schemas to an OpenAPI document (mutates and returns it). */
export function addWalkerPaths(document: Json, walkers: LoadedWalker[]): Json {
  const paths = (document.paths ??= {}) as Json
  for (const walker of walkers) {
    if (walker.protocol === 'websocket') continue
    paths[`/${walker.protocol === 'http' ? 'walker' : 'webhook'}/${walker.name}`] = { post: operation(walker) }
  }
  const components = (document.components ??= {}) as Json
  const schemas = (components.schemas ??= {}) as Json
  schemas.WalkerSuccess = plain(WalkerSuccess)
  schemas.WalkerFailure = plain(WalkerFailure)
  return document
}
