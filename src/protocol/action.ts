// The typed `{action, payload}` dialect (SPEC section 4), as Django Channels / Chanx consumers
// speak it: a consumer is a discriminated union of message schemas plus one handler per action.
// Validation errors come back in the pydantic shape those clients parse: a list of
// {type, loc, msg}. Free of Fastify and sockets: the route gives it a `send` and a user.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import { onTokenExpiry, type VerifiedUser } from '../auth/tokens.ts'
import { CloseCode, CloseReason } from './close-codes.ts'
import { Serial } from '../lib/serial.ts'
import { stringifyJson } from '../lib/json.ts'
import type { MessageDoc } from '../docs/asyncapi.ts'

export const ActionError = Type.Object({
  type: Type.String({ description: 'pydantic error type: union_tag_invalid, union_tag_not_found, string_type, …' }),
  loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
  msg: Type.String()
}, { additionalProperties: false })
export type ActionError = Static<typeof ActionError>

/** Every server frame of the dialect. */
export const ActionFrame = Type.Object({ action: Type.String(), payload: Type.Unknown() }, { additionalProperties: false })
export type ActionFrame = Static<typeof ActionFrame>

export const Complete = Type.Object({ action: Type.Literal('complete'), payload: Type.Null() }, { additionalProperties: false })
export const Authentication = Type.Object({
  action: Type.Literal('authentication'),
  payload: Type.Object({
    status_code: Type.Union([Type.Literal(200), Type.Literal(403)]),
    status_text: Type.Union([Type.Literal('OK'), Type.Literal('Forbidden')]),
    data: Type.Object({ detail: Type.String() })
  })
}, { additionalProperties: false })
export const ValidationErrorFrame = Type.Object({ action: Type.Literal('error'), payload: Type.Array(ActionError) }, { additionalProperties: false })
export const HandlerErrorFrame = Type.Object({ action: Type.Literal('error'), payload: Type.Object({ detail: Type.Literal('Failed to process message') }) }, { additionalProperties: false })

export const COMPLETE = JSON.stringify({ action: 'complete', payload: null })
export const HANDLER_FAILED = JSON.stringify({ action: 'error', payload: { detail: 'Failed to process message' } })

export function authenticationFrame(ok: boolean): string {
  return JSON.stringify({
    action: 'authentication',
    payload: ok
      ? { status_code: 200, status_text: 'OK', data: { detail: 'OK' } }
      : { status_code: 403, status_text: 'Forbidden', data: { detail: 'Invalid or expired token' } }
  } satisfies Static<typeof Authentication>)
}

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

function toActionError(e: ValueError, actionName: string): ActionError {
  const loc: (string | number)[] = [actionName, 'payload']
  for (const part of e.path.split('/').slice(1)) loc.push(/^\d+$/.test(part) ? Number(part) : part)
  return { type: PYDANTIC_TYPE[e.type] ?? 'value_error', loc, msg: e.message }
}

/** At most this many error entries per frame: a frame of many unknown keys must not earn a reply many times its size. */
export const MAX_ACTION_ERRORS = 20

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
    const errors: ActionError[] = []
    const tags = this.actionNames.map((n) => `'${n}'`).join(', ')
    for (const key of Object.keys(msg)) {
      if (errors.length === MAX_ACTION_ERRORS) break
      if (key !== 'action' && key !== 'payload') errors.push({ type: 'extra_forbidden', loc: [key], msg: 'Extra inputs are not permitted' })
    }
    if (!('action' in msg)) {
      errors.unshift({ type: 'union_tag_not_found', loc: ['action'], msg: `Unable to extract tag using discriminator 'action'` })
      return { ok: false, errors: errors.slice(0, MAX_ACTION_ERRORS) }
    }
    const name = msg.action
    const check = typeof name === 'string' ? this.checks.get(name) : undefined
    if (typeof name !== 'string' || !check) {
      errors.splice(MAX_ACTION_ERRORS - 1) // room for the tag's own error, first
      errors.unshift({
        type: 'union_tag_invalid',
        loc: ['action'],
        // JSON for a non-string tag: String(['echo']) would claim the tag 'echo' did not match 'echo'.
        msg: `Input tag '${typeof name === 'string' ? name : stringifyJson(name)}' found using 'action' does not match any of the expected tags: ${tags}`
      })
      return { ok: false, errors }
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

/** Does this parsed frame belong to the action dialect? An `action` key, or a `payload` without a `type`. */
export function isActionFrame(msg: Record<string, unknown>): boolean {
  return 'action' in msg || ('payload' in msg && !('type' in msg))
}

export interface SessionIO {
  send(frame: string): void
  /** Close the connection (4403 after a refused token, 1008 when the token expires). */
  close(code: number, reason: string): void
  log: { error(obj: object, msg: string): void }
}

/**
 * One connection's conversation with a consumer: authentication first, then each action frame
 * validated, run and followed by `complete`, strictly in arrival order even when handlers are
 * async. Frames of other dialects on the same socket join the same queue while it is busy.
 */
export class ActionSession {
  user: VerifiedUser | null = null
  private readonly queue = new Serial()
  private readonly ctx: ConsumerContext
  private cancelExpiry = () => {}
  private closed = false

  constructor(
    private readonly consumer: Consumer,
    private readonly io: SessionIO,
    private readonly sendCompletion: boolean
  ) {
    const user = () => this.user
    this.ctx = {
      get user() {
        return user()
      },
      send: (action, payload) => io.send(JSON.stringify({ action, payload }))
    }
  }

  /** Run work in arrival order: at once when nothing is queued, else behind the queue. */
  submit(work: () => void | Promise<void>): void | Promise<void> {
    return this.queue.submit(work)
  }

  /** Nothing queued or running: the caller may do a frame's work at once and hand its result to follow(). */
  get idle(): boolean {
    return this.queue.idle
  }

  /** The result of work done at once while `idle`: a promise becomes what later frames wait for. */
  follow(result: void | Promise<void>): void | Promise<void> {
    return this.queue.follow(result)
  }

  /** The handshake carried a token: verify it before any frame is handled. */
  authenticate(verify: () => Promise<VerifiedUser | null>): void {
    void this.queue.run(async () => {
      const user = await verify()
      this.io.send(authenticationFrame(user !== null))
      if (!user) {
        this.io.close(CloseCode.FORBIDDEN, CloseReason.FORBIDDEN)
        return
      }
      this.user = user
      // Authenticated until the token expires, then closed: never kept with a stale identity.
      if (!this.closed) this.cancelExpiry = onTokenExpiry(user, () => this.io.close(CloseCode.POLICY_VIOLATION, CloseReason.TOKEN_EXPIRED))
      this.consumer.def.onAuthenticated?.(this.ctx)
      this.complete()
    })
  }

  /** The connection closed: no expiry timer outlives it. */
  close(): void {
    this.closed = true
    this.cancelExpiry()
  }

  /** One parsed action-dialect frame. */
  handle(msg: Record<string, unknown>): Promise<void> {
    return this.queue.run(async () => {
      const v = this.consumer.validate(msg)
      if (!v.ok) {
        this.io.send(JSON.stringify({ action: 'error', payload: v.errors }))
      } else {
        try {
          await this.consumer.run(v.action, v.payload, this.ctx)
        } catch (err) {
          this.io.log.error({ err, consumer: this.consumer.name, action: v.action }, 'consumer handler failed')
          this.io.send(HANDLER_FAILED)
        }
      }
      this.complete()
    })
  }

  private complete(): void {
    if (this.sendCompletion) this.io.send(COMPLETE)
  }
}

/** A consumer's messages for the AsyncAPI document, built from its own schemas and examples. */
export function consumerDocs(consumer: Consumer): { receive: MessageDoc[]; send: MessageDoc[] } {
  const receive: MessageDoc[] = []
  const send: MessageDoc[] = [
    { name: 'authentication', schema: Authentication, examples: [JSON.parse(authenticationFrame(true)), JSON.parse(authenticationFrame(false))] },
    { name: 'status', schema: Type.Object({ action: Type.Literal('status'), payload: Type.String() }), examples: [{ action: 'status', payload: 'Welcome, alice!' }] },
    { name: 'complete', schema: Complete, examples: [{ action: 'complete', payload: null }] },
    {
      name: 'error', schema: Type.Union([ValidationErrorFrame, HandlerErrorFrame]),
      examples: [
        { action: 'error', payload: [{ type: 'union_tag_invalid', loc: ['action'], msg: `Input tag 'nope' found using 'action' does not match any of the expected tags: ${consumer.actionNames.map((n) => `'${n}'`).join(', ')}` }] },
        JSON.parse(HANDLER_FAILED)
      ]
    }
  ]
  const seen = new Set(send.map((m) => m.name))
  for (const [name, a] of Object.entries(consumer.def.actions)) {
    receive.push({
      name,
      summary: a.description,
      schema: Type.Object({ action: Type.Literal(name), payload: a.payloadOptional ? Type.Optional(a.payload) : a.payload }, { additionalProperties: false }),
      examples: [{ action: name, payload: a.example ?? null }]
    })
    for (const [reply, { schema, example }] of Object.entries(a.replies ?? {})) {
      if (seen.has(reply)) continue
      seen.add(reply)
      send.push({ name: reply, schema, examples: [example] })
    }
  }
  return { receive, send }
}
