// Walker envelopes (SPEC section 6): the one reply shape every walker answers with, over a
// WebSocket frame or an HTTP body, and the error codes inside it with their HTTP statuses.
import { Type, type Static } from '@sinclair/typebox'
import { ErrorCode } from './error-codes.ts'
import { stringifyJson } from '../lib/json.ts'

/**
 * Walker error codes, with whether a client should retry. VALIDATION and UNAUTHORIZED are the
 * same strings FastChat uses, so clients handle them alike.
 */
export const WalkerErrorCode = {
  /** Bad JSON, not an object, or fields that break the walker's schema. Retry: no, fix the message. */
  VALIDATION: ErrorCode.VALIDATION,
  /** Token missing, invalid or expired (or a webhook's key/signature). Retry: with a valid token. */
  UNAUTHORIZED: ErrorCode.UNAUTHORIZED,
  /** HTTP only: no walker by that name for this route. Retry: no. */
  NOT_FOUND: 'NOT_FOUND',
  /** The walker threw or passed WALKER_TIMEOUT_MS; details are in the server log only. Retry: maybe later. */
  EXECUTION_ERROR: 'EXECUTION_ERROR'
} as const
export type WalkerErrorCode = (typeof WalkerErrorCode)[keyof typeof WalkerErrorCode]

export const WalkerErrorDetail = Type.Object({
  /** JSON pointer to the offending field ('' for the message as a whole). */
  path: Type.String(),
  message: Type.String()
}, { additionalProperties: false })
export type WalkerErrorDetail = Static<typeof WalkerErrorDetail>

export const WalkerSuccess = Type.Object({
  ok: Type.Literal(true),
  data: Type.Object({
    reports: Type.Array(Type.Unknown(), { description: 'every value the walker reported, in order' })
  }, { additionalProperties: false })
}, { additionalProperties: false, title: 'WalkerSuccess' })
export type WalkerSuccess = Static<typeof WalkerSuccess>

export const WalkerFailure = Type.Object({
  ok: Type.Literal(false),
  error: Type.Object({
    code: Type.Union(Object.values(WalkerErrorCode).map((c) => Type.Literal(c))),
    message: Type.String(),
    details: Type.Optional(Type.Array(WalkerErrorDetail))
  }, { additionalProperties: false })
}, { additionalProperties: false, title: 'WalkerFailure' })
export type WalkerFailure = Static<typeof WalkerFailure>

export const WalkerEnvelope = Type.Union([WalkerSuccess, WalkerFailure])
export type WalkerEnvelope = Static<typeof WalkerEnvelope>

/**
 * An envelope ready to send: the serialized frame and the status it gets over HTTP. A class, so
 * that a reply is told from parsed input by what it is (`instanceof`), not by its keys: a client
 * may well send `{"frame": …, "status": …}` as walker fields.
 */
export class WalkerReply {
  constructor(
    readonly status: number,
    readonly frame: string,
    /** An error envelope's code (the metrics count error replies by it). */
    readonly code?: WalkerErrorCode
  ) {}
}

function statusOf(code: WalkerErrorCode): number {
  switch (code) {
    case WalkerErrorCode.VALIDATION: return 400
    case WalkerErrorCode.UNAUTHORIZED: return 401
    case WalkerErrorCode.NOT_FOUND: return 404
    case WalkerErrorCode.EXECUTION_ERROR: return 500
  }
}

/**
 * Throws when a report cannot be serialized (a BigInt, a cycle); callers turn that into
 * EXECUTION_ERROR. Reports echoing deeply nested input (deeper than JSON.stringify recurses) are fine.
 */
export function successReply(reports: unknown[]): WalkerReply {
  // The same text as stringifyJson({ ok: true, data: { reports } }) (a WalkerSuccess), without
  // building the two wrapper objects for every message.
  return new WalkerReply(200, `{"ok":true,"data":{"reports":${stringifyJson(reports)}}}`)
}

export function errorReply(code: WalkerErrorCode, message: string, details?: WalkerErrorDetail[], status = statusOf(code)): WalkerReply {
  const error: WalkerFailure['error'] = details === undefined ? { code, message } : { code, message, details }
  return new WalkerReply(status, JSON.stringify({ ok: false, error } satisfies WalkerFailure), code)
}

export function validationReply(message: string, details: WalkerErrorDetail[], status?: number): WalkerReply {
  return errorReply(WalkerErrorCode.VALIDATION, message, details, status)
}

/** The replies that never vary, serialized once. */
export const Replies = {
  UNAUTHORIZED: errorReply(WalkerErrorCode.UNAUTHORIZED, 'Invalid or missing token'),
  WEBHOOK_UNAUTHORIZED: errorReply(WalkerErrorCode.UNAUTHORIZED, 'Invalid or missing API key or signature'),
  EXECUTION_ERROR: errorReply(WalkerErrorCode.EXECUTION_ERROR, 'Walker execution failed'),
  NOT_FOUND: errorReply(WalkerErrorCode.NOT_FOUND, 'Walker not found'),
  NOT_AN_OBJECT: validationReply('Expected a JSON object of walker fields', [{ path: '', message: 'Expected object' }]),
  BINARY: validationReply('Binary frames are not supported', [{ path: '', message: 'Expected a text frame' }])
} as const

export const invalidJsonReply = (parseError: string): WalkerReply => validationReply('Invalid JSON', [{ path: '', message: parseError }])

export const invalidFieldsReply = (details: WalkerErrorDetail[]): WalkerReply => validationReply('Invalid walker fields', details)
