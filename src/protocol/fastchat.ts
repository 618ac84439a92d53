// FastChat protocol on `/ws` (SPEC section 3). Every message is {type, data}.
import { Type, type Static } from '@sinclair/typebox'
import { ErrorCode } from './error-codes.ts'

export const ErrorMessage = Type.Object({
  type: Type.Literal('ERROR'),
  data: Type.Object({
    code: Type.Union(Object.values(ErrorCode).map((c) => Type.Literal(c))),
    message: Type.String(),
    details: Type.Record(Type.String(), Type.Unknown())
  }, { additionalProperties: false })
}, { additionalProperties: false })
export type ErrorMessage = Static<typeof ErrorMessage>

export function errorFrame(code: ErrorCode, message: string, details: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'ERROR', data: { code, message, details } } satisfies ErrorMessage)
}
