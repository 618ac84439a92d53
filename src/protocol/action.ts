// The typed `{action, payload}` dialect's wire (SPEC section 4), as Django Channels / Chanx
// consumers speak it: the frames the server sends and the pydantic-shaped validation errors
// those clients parse. The consumers that serve it live in src/consumers/.
import { Type, type Static } from '@sinclair/typebox'

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
/**
 * Both error frames in one schema that pins `action`: the schema errors of a frame, or a handler's
 * failure. One object per action keeps the dialect a union discriminated by `action`, as chanx's
 * generated clients build it (a discriminated union takes one member per tag).
 */
export const ErrorFrame = Type.Object({
  action: Type.Literal('error'),
  payload: Type.Union([
    Type.Array(ActionError, { description: 'the frame failed its schema: one entry per problem' }),
    Type.Object({ detail: Type.Literal('Failed to process message') }, { description: 'the handler threw; the cause is in the log' })
  ])
}, { additionalProperties: false })

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

/** At most this many error entries per frame: a frame of many unknown keys must not earn a reply many times its size. */
export const MAX_ACTION_ERRORS = 20

/** Does this parsed frame belong to the action dialect? An `action` key, or a `payload` without a `type`. */
export function isActionFrame(msg: Record<string, unknown>): boolean {
  return 'action' in msg || ('payload' in msg && !('type' in msg))
}
