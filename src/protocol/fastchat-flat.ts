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
  // Only `delivered`: a receipt is a no-op for a flat sender (src/chat/flat.ts says why).
  status: Type.Literal('delivered'),
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

// ---------------------------------------------------------------- docs (AsyncAPI)
// The flat dialect as its own channel of /ws in the AsyncAPI document (src/docs/surfaces.ts,
// docs/asyncapi.md): what a flat client sends, and FlatServerMessages above. Imports kept here
// so this section stands apart from the translation code it documents.
import type { DialectDocs } from './message-doc.ts'
import { ClientMsg, ClientMsgAck, Hello, OpenChat, summarized } from './fastchat.ts'

/** Flat client frames: their fields beside `type`; unknown keys are ignored, never refused. */
const open = { additionalProperties: true } as const
const flatIn = <T extends string>(type: T, fields: Parameters<typeof Type.Object>[0], description: string) =>
  Type.Object({ type: Type.Literal(type), ...fields }, { ...open, description })
// The same field rules as the envelope's: a flat frame is checked as the enveloped message it means.
const hello = Hello.properties.data.properties
const UserId = OpenChat.properties.data.properties.target_user_id

export const FlatHello = flatIn('HELLO', {
  display_name: hello.display_name,
  user_id: Type.Optional({ ...hello.user_id, description: 'a UUID v4; without one the server gives one, returned in HELLO_ACK' }),
  session_id: Type.Optional(Type.String({ description: 'the app\'s per-tab id: accepted and ignored' })),
  token: Type.Optional(hello.token)
}, 'Flat when it has no data key and a top-level display_name; the first HELLO decides the connection\'s dialect for its life')
export const FlatOpenChat = flatIn('OPEN_CHAT', {
  target_user_id: UserId,
  target_display_name: Type.Optional(Type.String({ maxLength: 1000, description: 'sent by the app; the name shown comes from presence' }))
}, 'Opens (or reopens) the chat with a user online; its target becomes the sender\'s current partner')
export const FlatClientMsg = flatIn('MSG', {
  content: ClientMsg.properties.data.properties.content,
  to: Type.Optional({ ...UserId, description: 'the recipient; without it, the partner in chat_id, else the current partner' }),
  chat_id: Type.Optional(Type.String({ description: 'a chat this user was sent CHAT_OPENED for' })),
  message_id: Type.Optional(ClientMsg.properties.data.properties.message_id)
}, 'A message to the current partner unless to or chat_id names another; with none, ERROR CHAT_NOT_OPENED')
export const FlatClientMsgAck = flatIn('MSG_ACK', {
  message_id: ClientMsgAck.properties.data.properties.message_id,
  status: Type.Optional(Type.String({ description: 'the app sends received; ignored' })),
  timestamp: Type.Optional(Type.String({ description: 'ignored' }))
}, 'The receipt for a MSG: its sender is told received')
export const FlatClientTyping = flatIn('TYPING', {
  is_typing: Type.Optional(Type.Boolean({ description: 'read as false when missing' })),
  to: Type.Optional(UserId),
  chat_id: Type.Optional(Type.String())
}, 'To the current partner unless to or chat_id names another; only changes are relayed, and with no partner it is dropped')
export const FlatPing = flatIn('PING', {}, 'Answered with a flat PONG')
export const FlatClientPong = flatIn('PONG', {}, 'The app\'s answer to an application PING: accepted, not answered')

const A = '9d4dec7a-1df1-4670-8685-fd7f7b189dea'
const B = '1a2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d'
const SESSION = 'dea0a4f8-3f73-42ef-8a8f-b273a456f6d3'
const CHAT = 'chat_5f0c2b9e8a474d2b9c1e5b7a2d4e6f80'
const MID = 'c3e1a7f2-4b6d-4e8a-9c0b-1d2e3f4a5b6c'
const AT = '2024-01-01T12:00:00.000Z'
const TOO_SHORT = 'must be 3–50 characters after removing HTML (got 2)'

/**
 * Where the enveloped summary promises what a flat connection never gets: a flat HELLO carries
 * no capabilities (FLAT_FIELDS), so no delta PRESENCE and no history, hence no `stored` ack.
 */
const FLAT_SUMMARY = {
  in: { HELLO: 'identify: the first FastChat frame; no capabilities (full PRESENCE lists, no history)' },
  out: {
    PRESENCE: 'who is online: always the full list',
    MSG_ACK: 'a message this user sent was delivered (receipts are not passed on: the app shows them as pending)'
  }
}

/** The flat dialect of /ws for the AsyncAPI document; client examples are accepted as they are. */
export const flatDocs: DialectDocs = summarized({
  receive: [
    {
      name: 'HELLO', schema: FlatHello,
      examples: [
        { type: 'HELLO', display_name: 'MerryZebra445', user_id: A, session_id: SESSION },
        { type: 'HELLO', display_name: 'QuietOtter12' }
      ]
    },
    { name: 'OPEN_CHAT', schema: FlatOpenChat, examples: [{ type: 'OPEN_CHAT', target_user_id: B, target_display_name: 'MerryGiraffe695' }] },
    { name: 'MSG', schema: FlatClientMsg, examples: [{ type: 'MSG', content: 'hello bob' }, { type: 'MSG', content: 'hello bob', chat_id: CHAT, message_id: 'm-1' }] },
    { name: 'MSG_ACK', schema: FlatClientMsgAck, examples: [{ type: 'MSG_ACK', message_id: MID, status: 'received', timestamp: AT }] },
    { name: 'TYPING', schema: FlatClientTyping, examples: [{ type: 'TYPING', is_typing: true }, { type: 'TYPING', is_typing: false, to: B }] },
    { name: 'PING', schema: FlatPing, examples: [{ type: 'PING' }] },
    { name: 'PONG', schema: FlatClientPong, examples: [{ type: 'PONG' }] }
  ],
  send: [
    { name: 'HELLO_ACK', schema: FlatHelloAck, examples: [{ type: 'HELLO_ACK', user_id: A, status: 'connected', message: 'Connected successfully' }] },
    {
      name: 'PRESENCE', schema: FlatPresence,
      examples: [{ type: 'PRESENCE', users: [{ user_id: A, display_name: 'MerryZebra445', online: true }, { user_id: B, display_name: 'MerryGiraffe695', online: true }], action: 'update' }]
    },
    {
      name: 'CHAT_OPENED', schema: FlatChatOpened,
      examples: [{ type: 'CHAT_OPENED', chat_id: CHAT, participants: [A, B], target_user_id: B, target_display_name: 'MerryGiraffe695' }]
    },
    {
      name: 'MSG', schema: FlatMsg,
      examples: [{ type: 'MSG', chat_id: CHAT, message_id: MID, content: 'hello bob', sender_id: A, sender_name: 'MerryZebra445', timestamp: AT }]
    },
    {
      name: 'MSG_ACK', schema: FlatMsgAck,
      examples: [{ type: 'MSG_ACK', message_id: MID, status: 'delivered', timestamp: AT }]
    },
    { name: 'TYPING', schema: FlatTyping, examples: [{ type: 'TYPING', user_id: A, display_name: 'MerryZebra445', is_typing: true }] },
    { name: 'PONG', schema: FlatPong, examples: [{ type: 'PONG' }] },
    {
      name: 'ERROR', schema: FlatError,
      examples: [
        { type: 'ERROR', error_code: 'CHAT_NOT_OPENED', message: 'open a chat first', details: null },
        { type: 'ERROR', error_code: 'VALIDATION', message: `invalid HELLO: /display_name: ${TOO_SHORT}`, details: { errors: [{ path: '/display_name', message: TOO_SHORT }] } },
        { type: 'ERROR', error_code: 'RATE_LIMITED', message: 'too many messages', message_id: MID, details: { message_id: MID, retry_after_ms: 41250 } }
      ]
    }
  ]
}, FLAT_SUMMARY)
