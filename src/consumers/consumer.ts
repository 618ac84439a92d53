// A consumer of the `{action, payload}` dialect: a discriminated union of payload schemas plus
// one handler per action, validated into the pydantic-shaped errors (src/protocol/action.ts).
// Adding one is a file like echo.ts; routes/ws-echo.ts serves it through an ActionSession.
import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import type { VerifiedUser } from '../auth/tokens.ts'
import { MAX_ACTION_ERRORS, type ActionError } from '../protocol/action.ts'
import { stringifyJson } from '../lib/json.ts'

export interface ConsumerContext {
  /** The verified user, or null for an anonymous connection. */
  user: VerifiedUser | null
  /** Send one `{action, payload}` frame to this connection. */
  send(action: string, payload: unknown): void
}

/** One incoming action: its payload schema, an example for the docs, and its handler. */
export interface ActionDef<P extends TSchema> {
  payload: P
  /** Whether the client may leave `payload` out (it is then null). */
  payloadOptional?: boolean
  description?: string
  example?: Static<P>
  /** The replies this action may send, with an example each, for the AsyncAPI document. */
  replies?: Record<string, { schema: TSchema; example: unknown }>
  handle(payload: Static<P>, ctx: ConsumerContext): void | Promise<void>
}

export interface ConsumerDef {
  name: string
  description?: string
  /** Sent after the authentication frame when the handshake carried a valid token. */
  onAuthenticated?(ctx: ConsumerContext): void
  actions: Record<string, ActionDef<TSchema>>
}

/** Keeps each handler's payload type tied to its schema while building the action map. */
export function action<P extends TSchema>(def: ActionDef<P>): ActionDef<TSchema> {
  return def as unknown as ActionDef<TSchema>
}

export function defineConsumer(def: ConsumerDef): Consumer {
  return new Consumer(def)
}

const PYDANTIC_TYPE: Partial<Record<ValueErrorType, string>> = {
  [ValueErrorType.String]: 'string_type',
  [ValueErrorType.StringMinLength]: 'string_too_short',
  [ValueErrorType.StringMaxLength]: 'string_too_long',
  [ValueErrorType.Number]: 'float_type',
  [ValueErrorType.Integer]: 'int_type',
  [ValueErrorType.Boolean]: 'bool_type',
  [ValueErrorType.Null]: 'none_required',
  [ValueErrorType.Object]: 'model_type',
  [ValueErrorType.Array]: 'list_type',
  [ValueErrorType.ObjectRequiredProperty]: 'missing',
  [ValueErrorType.ObjectAdditionalProperties]: 'extra_forbidden',
  [ValueErrorType.Literal]: 'literal_error'
}

/** Pydantic v2's message for each mapped type, so `msg` reads as the dialect's own servers write it. */
const PYDANTIC_MSG: Partial<Record<ValueErrorType, (schema: Record<string, unknown>) => string>> = {
  [ValueErrorType.String]: () => 'Input should be a valid string',
  [ValueErrorType.StringMinLength]: (s) => `String should have at least ${String(s.minLength)} character${s.minLength === 1 ? '' : 's'}`,
  [ValueErrorType.StringMaxLength]: (s) => `String should have at most ${String(s.maxLength)} character${s.maxLength === 1 ? '' : 's'}`,
  [ValueErrorType.Number]: () => 'Input should be a valid number',
  [ValueErrorType.Integer]: () => 'Input should be a valid integer',
  [ValueErrorType.Boolean]: () => 'Input should be a valid boolean',
  [ValueErrorType.Null]: () => 'Input should be None',
  [ValueErrorType.Object]: () => 'Input should be a valid dictionary',
  [ValueErrorType.Array]: () => 'Input should be a valid list',
  [ValueErrorType.ObjectRequiredProperty]: () => 'Field required',
  [ValueErrorType.ObjectAdditionalProperties]: () => 'Extra inputs are not permitted',
  [ValueErrorType.Literal]: (s) => `Input should be ${typeof s.const === 'string' ? `'${s.const}'` : String(s.const)}`
}

function toActionError(e: ValueError, actionName: string): ActionError {
  const loc: (string | number)[] = [actionName, 'payload']
  for (const part of e.path.split('/').slice(1)) loc.push(/^\d+$/.test(part) ? Number(part) : part)
  const msg = PYDANTIC_MSG[e.type]?.(e.schema as Record<string, unknown>) ?? e.message
  return { type: PYDANTIC_TYPE[e.type] ?? 'value_error', loc, msg }
}

export type Validated =
  | { ok: true; action: string; payload: unknown }
  | { ok: false; errors: ActionError[] }

export class Consumer {
  readonly name: string
  private readonly checks = new Map<string, TypeCheck<TSchema>>()

  constructor(readonly def: ConsumerDef) {
    this.name = def.name
    for (const [name, a] of Object.entries(def.actions)) this.checks.set(name, TypeCompiler.Compile(a.payload))
  }

  get actionNames(): string[] {
    return [...this.checks.keys()]
  }

  /** Check a parsed frame against the union; one error entry per problem. */
  validate(msg: Record<string, unknown>): Validated {
    // A tag that is missing or matches no action is the only error, as in pydantic's
    // discriminated unions: without a model there are no fields to call extra.
    if (!('action' in msg)) {
      return { ok: false, errors: [{ type: 'union_tag_not_found', loc: ['action'], msg: `Unable to extract tag using discriminator 'action'` }] }
    }
    const name = msg.action
    const check = typeof name === 'string' ? this.checks.get(name) : undefined
    if (typeof name !== 'string' || !check) {
      const tags = this.actionNames.map((n) => `'${n}'`).join(', ')
      return {
        ok: false,
        errors: [{
          type: 'union_tag_invalid',
          loc: ['action'],
          // JSON for a non-string tag: String(['echo']) would claim the tag 'echo' did not match 'echo'.
          msg: `Input tag '${typeof name === 'string' ? name : stringifyJson(name)}' found using 'action' does not match any of the expected tags: ${tags}`
        }]
      }
    }
    const errors: ActionError[] = []
    for (const key of Object.keys(msg)) {
      if (errors.length === MAX_ACTION_ERRORS) break
      if (key !== 'action' && key !== 'payload') errors.push({ type: 'extra_forbidden', loc: [key], msg: 'Extra inputs are not permitted' })
    }
    const def = this.def.actions[name]!
    const payload = msg.payload === undefined && def.payloadOptional ? null : msg.payload
    if (msg.payload === undefined && !def.payloadOptional) {
      if (errors.length < MAX_ACTION_ERRORS) errors.push({ type: 'missing', loc: [name, 'payload'], msg: 'Field required' })
    } else if (!check.Check(payload)) {
      for (const e of check.Errors(payload)) {
        if (errors.length >= MAX_ACTION_ERRORS) break
        errors.push(toActionError(e, name))
      }
    }
    return errors.length ? { ok: false, errors } : { ok: true, action: name, payload }
  }

  /** Run the action's handler. A throw is the caller's to turn into HANDLER_FAILED. */
  async run(actionName: string, payload: unknown, ctx: ConsumerContext): Promise<void> {
    await this.def.actions[actionName]!.handle(payload as never, ctx)
  }
}
