// The FastChat app's own dialect on `/ws` (SPEC section 10): the same messages as fastchat.ts
// with their fields beside `type` instead of inside `data`, and MSG and TYPING naming no
// recipient. Translated at the edges: a flat client frame becomes the enveloped message the
// chat service handles (envelopeFlat), and every enveloped frame for a flat connection is
// rendered flat (FlatRenderer) with exactly the fields the app's client reads.
// docs/fastchat.md, "The FastChat app's flat dialect", has the mapping and the choices made.
import { Type, type Static } from '@sinclair/typebox'
import { ErrorCode } from './error-codes.ts'
import type { ClientType } from './fastchat.ts'

// ---------------------------------------------------------------- client → server

/**
 * The rule that tells a flat HELLO from an enveloped one: no `data` key and a top-level string
 * display_name. The first HELLO on a connection decides its dialect for its life.
 */
export function isFlatHello(msg: Record<string, unknown>): boolean {
  return msg.type === 'HELLO' && !('data' in msg) && typeof msg.display_name === 'string'
}

/**
 * The fields of each client message that a flat frame may carry at the top level. Anything
 * else (the app's `session_id`, MSG_ACK's `status` and `timestamp`, MSG's `timestamp`) is
 * ignored, as the app's own server ignores it: unknown keys are never a VALIDATION error.
 */
const FLAT_FIELDS: Record<ClientType, readonly string[]> = {
  HELLO: ['user_id', 'display_name', 'token'],
  OPEN_CHAT: ['target_user_id', 'target_display_name'],
  MSG: ['to', 'content', 'message_id'],
  MSG_ACK: ['message_id'],
  TYPING: ['is_typing', 'to'],
  PING: [],
  HISTORY: ['chat_id', 'before_seq', 'after_seq', 'limit']
}

/**
 * A flat client frame as the enveloped message it means, before validation. `to` is the
 * recipient the caller resolved for MSG and TYPING (SPEC 10: the frame's `to`, its `chat_id`, or
 * the sender's current partner); `userId` the id a HELLO without one is given.
 */
export function envelopeFlat(
  msg: Record<string, unknown> & { type: ClientType },
  fill: { to?: string; userId?: string } = {}
): { type: ClientType; data: Record<string, unknown> } {
  const data: Record<string, unknown> = {}
  for (const key of FLAT_FIELDS[msg.type]) if (msg[key] !== undefined) data[key] = msg[key]
  if (msg.type === 'HELLO' && data.user_id === undefined) data.user_id = fill.userId
  if ((msg.type === 'MSG' || msg.type === 'TYPING') && data.to === undefined && fill.to !== undefined) data.to = fill.to
  // The app's server reads a missing is_typing as false.
  if (msg.type === 'TYPING' && data.is_typing === undefined) data.is_typing = false
  return { type: msg.type, data }
}

// ---------------------------------------------------------------- server → client

const strict = { additionalProperties: false } as const
const flat = <T extends string>(type: T, fields: Parameters<typeof Type.Object>[0]) =>
  Type.Object({ type: Type.Literal(type), ...fields }, strict)

export const FlatHelloAck = flat('HELLO_ACK', { user_id: Type.String(), status: Type.Literal('connected'), message: Type.String() })
export const FlatPresence = flat('PRESENCE', {
  users: Type.Array(Type.Object({ user_id: Type.String(), display_name: Type.String(), online: Type.Boolean() }, strict)),
  action: Type.Literal('update', { description: 'always the full list: the client replaces its list with it' })
})
export const FlatChatOpened = flat('CHAT_OPENED', {
  chat_id: Type.String(),
  participants: Type.Tuple([Type.String(), Type.String()]),
  target_user_id: Type.String({ description: 'the other party, seen from the receiver' }),
  target_display_name: Type.String()
})
export const FlatMsg = flat('MSG', {
  chat_id: Type.String(),
  message_id: Type.String(),
  content: Type.String(),
  sender_id: Type.String(),
  sender_name: Type.String(),
  timestamp: Type.String({ format: 'date-time' })
})
export const FlatMsgAck = flat('MSG_ACK', {
  message_id: Type.String(),
  status: Type.Union([Type.Literal('delivered'), Type.Literal('received')]),
  timestamp: Type.String({ format: 'date-time' })
})
export const FlatTyping = flat('TYPING', { user_id: Type.String(), display_name: Type.String(), is_typing: Type.Boolean() })
export const FlatPong = flat('PONG', {})
export const FlatError = flat('ERROR', {
  error_code: Type.Union(Object.values(ErrorCode).map((c) => Type.Literal(c))),
  message: Type.String(),
  message_id: Type.Optional(Type.String({ description: 'the MSG this error is about' })),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])
})

/** Every frame a flat connection is sent, by type. */
export const FlatServerMessages = {
  HELLO_ACK: FlatHelloAck,
  PRESENCE: FlatPresence,
  CHAT_OPENED: FlatChatOpened,
  MSG: FlatMsg,
  MSG_ACK: FlatMsgAck,
  TYPING: FlatTyping,
  PONG: FlatPong,
  ERROR: FlatError
} as const
export type FlatMsg = Static<typeof FlatMsg>

/** What rendering needs to know that an enveloped frame does not say. */
export interface FlatContext {
  /** A user's display name (MSG's sender_name, TYPING's display_name). */
  nameOf(userId: string): string | undefined
  /** The chat between two users (MSG's chat_id). */
  chatIdOf(a: string, b: string): string
  now(): string
}

/** An enveloped frame as parsed, and its flat rendering (undefined: flat clients do not get it). */
export interface Rendered {
  type: string
  data: Record<string, unknown>
  flat: string | undefined
}

/**
 * Renders enveloped frames flat. One entry is remembered: a PRESENCE list or a MSG is written
 * as the same string to every receiver, so each flat receiver after the first costs a compare.
 */
export class FlatRenderer {
  private last: { frame: string; rendered: Rendered } | undefined

  constructor(private readonly ctx: FlatContext) {}

  render(frame: string): Rendered {
    if (this.last?.frame === frame) return this.last.rendered
    const { type, data } = JSON.parse(frame) as { type: string; data: Record<string, unknown> }
    const rendered: Rendered = { type, data, flat: this.flat(type, data) }
    this.last = { frame, rendered }
    return rendered
  }

  private flat(type: string, d: Record<string, unknown>): string | undefined {
    const ctx = this.ctx
    switch (type) {
      case 'HELLO_ACK':
        return JSON.stringify({ type, user_id: d.user_id, status: d.status, message: 'Connected successfully' })
      case 'PRESENCE':
        return JSON.stringify({ type, users: d.users, action: 'update' })
      case 'CHAT_OPENED':
        return JSON.stringify({ type, chat_id: d.chat_id, participants: d.participants, target_user_id: d.target_user_id, target_display_name: d.target_display_name })
      case 'MSG': {
        const from = d.from as string
        return JSON.stringify({
          type,
          chat_id: d.chat_id ?? ctx.chatIdOf(from, d.to as string),
          message_id: d.message_id,
          content: d.content,
          sender_id: from,
          sender_name: ctx.nameOf(from) ?? '',
          timestamp: d.timestamp
        })
      }
      case 'MSG_ACK':
        // `stored` has no place in the dialect (flat connections have no history); it never reaches one.
        return JSON.stringify({ type, message_id: d.message_id, status: d.status, timestamp: ctx.now() })
      case 'TYPING':
        return JSON.stringify({ type, user_id: d.user_id, display_name: ctx.nameOf(d.user_id as string) ?? '', is_typing: d.is_typing })
      case 'PONG':
        return '{"type":"PONG"}'
      case 'ERROR':
        return flatError(d)
      default:
        // CHATS and HISTORY belong to the history capability, which a flat HELLO cannot ask for.
        return undefined
    }
  }
}

/**
 * An ERROR with its code as `error_code` (what the app reads) and paths without the envelope:
 * a flat client sent `/content`, not `/data/content`.
 */
function flatError(d: Record<string, unknown>): string {
  const details = { ...(d.details as Record<string, unknown>) }
  if (Array.isArray(details.errors)) {
    details.errors = (details.errors as { path: string; message: string }[]).map((e) => ({ path: unwrapPath(e.path), message: e.message }))
  }
  const messageId = typeof details.message_id === 'string' ? details.message_id : undefined
  return JSON.stringify({
    type: 'ERROR',
    error_code: d.code,
    message: (d.message as string).replace(/\/data\//g, '/').replace(/\/data(?=:|$)/g, '/'),
    ...(messageId === undefined ? {} : { message_id: messageId }),
    details: Object.keys(details).length ? details : null
  })
}

/** `/data/content` → `/content`; `/data` → `/`. */
function unwrapPath(path: string): string {
  return path === '/data' ? '/' : path.startsWith('/data/') ? path.slice(5) : path
}
