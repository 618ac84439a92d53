// defineWalker(): the one way a walker is declared (SPEC section 6). Every rule a definition
// must keep is checked here, when the module is imported, so a mistake stops startup (or a hot
// reload) with a message instead of failing on the first message that reaches it.
import { Type, TypeGuard, type Static, type TObject, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { VerifiedUser } from '../auth/tokens.ts'

export type WalkerProtocol = 'websocket' | 'http' | 'webhook'

const PROTOCOLS: ReadonlySet<string> = new Set<WalkerProtocol>(['websocket', 'http', 'webhook'])

export const WALKER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Names taken by static routes: `/ws/echo` and `/ws/health` always win over `/ws/:walker`. */
export const RESERVED_WALKER_NAMES: ReadonlySet<string> = new Set(['echo', 'health'])

/** The logger a walker gets: the request's pino logger, typed narrowly so walkers need no Fastify. */
export interface WalkerLogger {
  debug(obj: object, msg?: string): void
  debug(msg: string): void
  info(obj: object, msg?: string): void
  info(msg: string): void
  warn(obj: object, msg?: string): void
  warn(msg: string): void
  error(obj: object, msg?: string): void
  error(msg: string): void
  child(bindings: Record<string, unknown>): WalkerLogger
}

export interface WalkerContext {
  /** Add a value to this execution's `reports` (JSON-serializable); calls after the walker ends are ignored. */
  report(value: unknown): void
  /** The verified token's user, or null when the walker is public and no valid token came. */
  readonly user: VerifiedUser | null
  readonly log: WalkerLogger
  /** Aborts when the client disconnects or WALKER_TIMEOUT_MS passes; pass it to fetch() and timers. */
  readonly signal: AbortSignal
}

export interface WalkerOptions<F extends TObject> {
  /** The URL segment: `/ws/<name>`, `/walker/<name>`, `/webhook/<name>`. */
  name: string
  protocol: WalkerProtocol
  /** TypeBox object schema of the message fields; defaults fill omitted ones. Default: no fields. */
  fields?: F
  /** No token needed. Default false: websocket and http walkers require a verified token. */
  public?: boolean
  /** Websocket only: every reply goes to every socket connected to this walker. */
  broadcast?: boolean
  /** One line for the OpenAPI document. */
  description?: string
  run(fields: Static<F>, ctx: WalkerContext): void | Promise<void>
}

export interface Walker<F extends TObject = TObject> {
  readonly name: string
  readonly protocol: WalkerProtocol
  readonly fields: F
  readonly public: boolean
  readonly broadcast: boolean
  readonly description: string | undefined
  run(fields: Static<F>, ctx: WalkerContext): void | Promise<void>
}

/** A global symbol, so a walker defined against another copy of this module is still recognised. */
const BRAND = Symbol.for('switchboard.walker')

export class WalkerDefinitionError extends Error {
  override readonly name = 'WalkerDefinitionError'
}

export function defineWalker<F extends TObject = TObject<{}>>(options: WalkerOptions<F>): Walker<F> { // eslint-disable-line @typescript-eslint/no-empty-object-type
  return toWalker(options) as Walker<F>
}

export function isWalker(value: unknown): value is Walker {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
}

/**
 * Check a definition (from defineWalker, or a plain object a module exports by default) and
 * return it normalized and frozen. Throws WalkerDefinitionError saying what to change.
 */
export function toWalker(value: unknown): Walker {
  if (isWalker(value)) return value
  if (typeof value !== 'object' || value === null) {
    throw new WalkerDefinitionError('a walker must be an object made with defineWalker({ name, protocol, fields, run })')
  }
  const def = value as Record<string, unknown>
  const name = def.name
  if (typeof name !== 'string' || !WALKER_NAME.test(name)) {
    throw new WalkerDefinitionError(`walker name ${JSON.stringify(name)} must match ${WALKER_NAME.source}`)
  }
  if (RESERVED_WALKER_NAMES.has(name)) {
    throw new WalkerDefinitionError(`walker name "${name}" is reserved (the /ws/${name} surface)`)
  }
  const fail = (msg: string): never => {
    throw new WalkerDefinitionError(`walker "${name}": ${msg}`)
  }
  const protocol = def.protocol
  if (typeof protocol !== 'string' || !PROTOCOLS.has(protocol)) {
    fail(`protocol must be one of ${[...PROTOCOLS].join(', ')} (got ${JSON.stringify(protocol)})`)
  }
  if (typeof def.run !== 'function') fail('run must be a function')
  for (const flag of ['public', 'broadcast'] as const) {
    if (def[flag] !== undefined && typeof def[flag] !== 'boolean') fail(`${flag} must be true or false`)
  }
  if (def.broadcast === true && protocol !== 'websocket') fail('broadcast applies to websocket walkers only')
  if (def.description !== undefined && typeof def.description !== 'string') fail('description must be a string')
  const fields = checkFields(def.fields ?? Type.Object({}), protocol as WalkerProtocol, fail)
  const walker = {
    name,
    protocol: protocol as WalkerProtocol,
    fields,
    public: def.public === true,
    broadcast: def.broadcast === true,
    description: def.description as string | undefined,
    run: def.run as Walker['run']
  }
  // Not enumerable: `{ ...someWalker, name: 'Other' }` is a new definition and gets checked.
  Object.defineProperty(walker, BRAND, { value: true })
  return Object.freeze(walker)
}

function checkFields(fields: unknown, protocol: WalkerProtocol, fail: (msg: string) => never): TObject {
  if (!TypeGuard.IsObject(fields)) fail('fields must be a TypeBox object schema, Type.Object({ … })')
  const schema = fields as TObject
  // Over WebSocket and HTTP a `token` key is removed before validation, so such a field could
  // never be set; webhooks pass payloads through whole (providers send their own `token`s).
  if (protocol !== 'webhook' && Object.hasOwn(schema.properties, 'token')) {
    fail('field "token" is reserved: tokens are removed from messages before a walker runs')
  }
  for (const [key, prop] of Object.entries(schema.properties) as [string, TSchema][]) {
    if (prop.default !== undefined && typeof prop.default !== 'function' && !Value.Check(prop, prop.default)) {
      fail(`the default of field "${key}" does not match its schema`)
    }
  }
  return schema
}
