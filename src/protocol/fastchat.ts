// FastChat protocol on `/ws` (SPEC section 3). Every message is {type, data}. One schema per
// client and server message, compiled once at load; the same schemas will feed the AsyncAPI
// document. Server frames are built here so every sender writes the exact same shapes.
import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { ErrorCode } from './error-codes.ts'
import '../lib/formats.ts'
import { codePointLength, sanitizeText, stripUnsafeChars, type TextKind } from '../lib/sanitize.ts'
import { UUID_V4_PATTERN } from '../lib/uuid.ts'
import { jsonString } from '../lib/json.ts'
import type { DialectDocs, MessageDoc } from './message-doc.ts'

/** `errorMessage` replaces TypeBox's wording (a regex dump) in details.errors. */
const UserId = Type.String({
  pattern: UUID_V4_PATTERN,
  description: 'a UUID v4',
  errorMessage: 'must be a UUID v4'
})
const MessageId = Type.String({ minLength: 1, maxLength: 128, description: 'client-chosen id, unique per sender; default a server UUID' })
const Iso = Type.String({ format: 'date-time', description: 'ISO-8601 UTC' })
const strict = { additionalProperties: false } as const

/** `{type, data}` with no unknown field at either level: the shape of every FastChat message. */
function message<T extends string, P extends TProperties>(type: T, data: P) {
  return Type.Object({ type: Type.Literal(type), data: Type.Object(data, strict) }, strict)
}

// ---------------------------------------------------------------- client → server

export const Hello = message('HELLO', {
  user_id: UserId,
  display_name: Type.String({ description: '3–50 characters (code points) after HTML stripping and trimming' }),
  capabilities: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), {
    maxItems: 16,
    description: '"presence_delta": changed entries only after the first PRESENCE; "history": stored messages, CHATS and HISTORY (SPEC section 9)'
  })),
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 8192, description: 'JWT, when the handshake carried none' })),
  claim: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'history: the claim the first history HELLO of this user_id was given' }))
})
export type Hello = Static<typeof Hello>

export const OpenChat = message('OPEN_CHAT', {
  target_user_id: UserId,
  // Accepted for compatibility; CHAT_OPENED names come from presence, not from the client.
  target_display_name: Type.Optional(Type.String({ maxLength: 1000 }))
})
export type OpenChat = Static<typeof OpenChat>

export const ClientMsg = message('MSG', {
  to: UserId,
  content: Type.String({ description: '1–1000 characters (code points) after HTML stripping' }),
  message_id: Type.Optional(MessageId)
})
export type ClientMsg = Static<typeof ClientMsg>

export const ClientMsgAck = message('MSG_ACK', {
  message_id: MessageId,
  status: Type.Optional(Type.Literal('received')),
  chat_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'history: the chat of the confirmed message, so a receipt is stored however long ago it arrived' }))
})
export type ClientMsgAck = Static<typeof ClientMsgAck>

export const ClientTyping = message('TYPING', {
  is_typing: Type.Boolean(),
  to: Type.Optional(UserId)
})
export type ClientTyping = Static<typeof ClientTyping>

export const Ping = message('PING', {})
export type Ping = Static<typeof Ping>

const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
export const HISTORY_DEFAULT_LIMIT = 50

export const ClientHistory = message('HISTORY', {
  chat_id: Type.String({ minLength: 1, maxLength: 64 }),
  before_seq: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'page backwards: messages older than this seq' })),
  after_seq: Type.Optional({ ...Seq, description: 'catch up: messages newer than this seq' }),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: `default ${HISTORY_DEFAULT_LIMIT}` }))
})
export type ClientHistory = Static<typeof ClientHistory>

export const ClientMessages = {
  HELLO: Hello,
  OPEN_CHAT: OpenChat,
  MSG: ClientMsg,
  MSG_ACK: ClientMsgAck,
  TYPING: ClientTyping,
  PING: Ping,
  HISTORY: ClientHistory
} as const
export type ClientType = keyof typeof ClientMessages
export type ClientMessage = Hello | OpenChat | ClientMsg | ClientMsgAck | ClientTyping | Ping | ClientHistory

// ---------------------------------------------------------------- server → client

export const HelloAck = message('HELLO_ACK', {
  user_id: Type.String(),
  status: Type.Literal('connected'),
  claim: Type.Optional(Type.String({ description: 'history: issued on the first history HELLO of a user_id without a token; send it as data.claim from then on' }))
})
export type HelloAck = Static<typeof HelloAck>

export const PresenceEntry = Type.Object({
  user_id: Type.String(),
  display_name: Type.String(),
  online: Type.Boolean()
}, strict)
export type PresenceEntry = Static<typeof PresenceEntry>

export const PresenceList = message('PRESENCE', { users: Type.Array(PresenceEntry) })
export type PresenceList = Static<typeof PresenceList>

export const ChatOpened = message('CHAT_OPENED', {
  chat_id: Type.String(),
  participants: Type.Tuple([Type.String(), Type.String()]),
  target_user_id: Type.String({ description: 'the other party, seen from the receiver' }),
  target_display_name: Type.String(),
  last_seq: Type.Optional({ ...Seq, description: 'history connections: the newest seq of the chat\'s log (0: none yet)' })
})
export type ChatOpened = Static<typeof ChatOpened>

export const ServerMsg = message('MSG', {
  from: Type.String(),
  to: Type.String(),
  content: Type.String(),
  message_id: Type.String(),
  timestamp: Iso,
  chat_id: Type.Optional(Type.String({ description: 'history connections' })),
  seq: Type.Optional({ ...Seq, description: 'history connections: the message\'s place in its chat\'s log' })
})
export type ServerMsg = Static<typeof ServerMsg>

export const MessageStatus = Type.Union([Type.Literal('stored'), Type.Literal('delivered'), Type.Literal('received')])

export const ServerMsgAck = message('MSG_ACK', {
  message_id: Type.String(),
  status: MessageStatus,
  chat_id: Type.Optional(Type.String({ description: 'history senders: stored and delivered acks' })),
  seq: Type.Optional(Seq),
  content: Type.Optional(Type.String({ description: 'history senders: the content as stored, after sanitizing' }))
})
export type ServerMsgAck = Static<typeof ServerMsgAck>

export const ServerTyping = message('TYPING', { user_id: Type.String(), is_typing: Type.Boolean() })
export type ServerTyping = Static<typeof ServerTyping>

export const Pong = message('PONG', { timestamp: Iso })
export type Pong = Static<typeof Pong>

export const ErrorMessage = message('ERROR', {
  code: Type.Union(Object.values(ErrorCode).map((c) => Type.Literal(c))),
  message: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown())
})
export type ErrorMessage = Static<typeof ErrorMessage>

export const ChatSummary = Type.Object({
  chat_id: Type.String(),
  target_user_id: Type.String(),
  target_display_name: Type.String(),
  epoch: Type.String({ description: 'the log\'s lifetime: when it changes, forget what you remembered of its seq' }),
  last_seq: Seq,
  unread: Type.Integer({ minimum: 0, description: 'messages to you not yet confirmed received' })
}, strict)
export type ChatSummary = Static<typeof ChatSummary>

export const Chats = message('CHATS', { chats: Type.Array(ChatSummary, { maxItems: 200 }) })
export type Chats = Static<typeof Chats>

export const StoredMsg = Type.Object({
  from: Type.String(),
  to: Type.String(),
  content: Type.String(),
  message_id: Type.String(),
  timestamp: Iso,
  seq: Seq,
  status: MessageStatus
}, strict)
export type StoredMsg = Static<typeof StoredMsg>

export const ServerHistory = message('HISTORY', {
  chat_id: Type.String(),
  epoch: Type.String(),
  first_seq: Type.Integer({ minimum: 1, description: 'the oldest kept; a client whose last seen seq is below first_seq - 1 missed messages for good' }),
  last_seq: Seq,
  messages: Type.Array(StoredMsg, { description: 'oldest first' }),
  has_more: Type.Boolean()
})
export type ServerHistory = Static<typeof ServerHistory>

export const ServerMessages = {
  HELLO_ACK: HelloAck,
  PRESENCE: PresenceList,
  CHAT_OPENED: ChatOpened,
  MSG: ServerMsg,
  MSG_ACK: ServerMsgAck,
  TYPING: ServerTyping,
  PONG: Pong,
  ERROR: ErrorMessage,
  CHATS: Chats,
  HISTORY: ServerHistory
} as const

// ---------------------------------------------------------------- validation

export interface LengthRule {
  min: number
  max: number
  /** Which characters are stripped before counting (src/lib/sanitize.ts, stripUnsafeChars). */
  kind: TextKind
}
/** Counted in code points after HTML stripping and trimming (SPEC section 3). */
export const DISPLAY_NAME_LENGTH: LengthRule = { min: 3, max: 50, kind: 'name' }
export const CONTENT_LENGTH: LengthRule = { min: 1, max: 1000, kind: 'content' }

/**
 * User text as stored and relayed: unsafe characters (controls, bidi overrides, lone
 * surrogates; invisible ones in names) and markup stripped, trimmed, then held to its length rule.
 */
export function cleanText(raw: string, rule: LengthRule): { ok: true; text: string } | { ok: false; message: string } {
  // Speed (the relay cleans every MSG): printable ASCII without `<` has nothing to strip or
  // sanitize and a code point per character, so one test stands for the passes below (pinned
  // against them in test/lib/sanitize.test.ts).
  if (PLAIN_ASCII.test(raw)) {
    const text = raw.trim()
    return lengthChecked(text, text.length, rule)
  }
  const text = cleanedText(raw, rule.kind)
  return lengthChecked(text, codePointLength(text), rule)
}

/** The passes cleanText's fast path stands for: unsafe characters, markup, unsafe characters again where the sanitizer changed anything; trimmed. */
export function cleanedText(raw: string, kind: TextKind): string {
  const safe = stripUnsafeChars(raw, kind)
  const sanitized = sanitizeText(safe)
  // The sanitizer can cut a surrogate pair in two inside tag-like text ("</a 𐀀"): clean its output again when it changed anything.
  return (sanitized === safe ? sanitized : stripUnsafeChars(sanitized, kind)).trim()
}

/** Space to `~` but `<`: no control, no markup, no surrogate, nothing a name turns into a space. */
const PLAIN_ASCII = /^[\x20-\x3b\x3d-\x7e]*$/

function lengthChecked(text: string, length: number, rule: LengthRule): { ok: true; text: string } | { ok: false; message: string } {
  if (length >= rule.min && length <= rule.max) return { ok: true, text }
  return { ok: false, message: `must be ${rule.min}–${rule.max} characters after removing HTML (got ${length})` }
}

export interface FieldError {
  path: string
  message: string
}

export type Checked = { ok: true; message: ClientMessage } | { ok: false; errors: FieldError[] }

/**
 * At most this many field errors are reported per message (like walkers' details): a 60 KB
 * frame of unknown keys would otherwise earn a reply nine times its size, an amplifier.
 */
export const MAX_FIELD_ERRORS = 20

const checkers = new Map<string, TypeCheck<TSchema>>(
  Object.entries(ClientMessages).map(([type, schema]) => [type, TypeCompiler.Compile(schema)])
)

export function isClientType(type: unknown): type is ClientType {
  return typeof type === 'string' && checkers.has(type)
}

/**
 * Validate a parsed object whose `type` is a FastChat client type, naming every failing field
 * once. HELLO's display_name rule is checked here too, so one answer names all the problems; on
 * success the message's display_name is the cleaned one.
 */
export function checkClientMessage(msg: Record<string, unknown> & { type: ClientType }): Checked {
  const check = checkers.get(msg.type)!
  // The hot path (a valid MSG) allocates no error list.
  const valid = check.Check(msg)
  if (valid && msg.type !== 'HELLO') return { ok: true, message: msg as unknown as ClientMessage }
  const data = msg.data as Record<string, unknown> | undefined
  const errors: FieldError[] = []
  if (!valid) {
    const seen = new Set<string>()
    for (const e of check.Errors(msg)) {
      // TypeBox reports a missing object twice (required, then not an object); the first says it.
      if (seen.has(e.path)) continue
      seen.add(e.path)
      const custom = (e.schema as { errorMessage?: unknown }).errorMessage
      errors.push({ path: e.path, message: typeof custom === 'string' ? custom : e.message })
      if (errors.length === MAX_FIELD_ERRORS) break
    }
  }
  if (msg.type === 'HELLO' && typeof data?.display_name === 'string') {
    const name = cleanText(data.display_name, DISPLAY_NAME_LENGTH)
    if (!name.ok) {
      if (errors.length < MAX_FIELD_ERRORS) errors.push({ path: '/data/display_name', message: name.message })
    } else if (errors.length === 0) {
      data.display_name = name.text
    }
  }
  return errors.length ? { ok: false, errors } : { ok: true, message: msg as unknown as ClientMessage }
}

// ---------------------------------------------------------------- frames

export function errorFrame(code: ErrorCode, message: string, details: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'ERROR', data: { code, message, details } } satisfies ErrorMessage)
}

export function validationFrame(type: string, errors: FieldError[], extra: Record<string, unknown> = {}): string {
  const what = errors.map((e) => `${e.path || '/'}: ${e.message}`).join('; ')
  return errorFrame(ErrorCode.VALIDATION, `invalid ${type}: ${what}`, { ...extra, errors })
}

export const helloAckFrame = (userId: string, claim?: string): string =>
  JSON.stringify({ type: 'HELLO_ACK', data: claim === undefined ? { user_id: userId, status: 'connected' } : { user_id: userId, status: 'connected', claim } } satisfies HelloAck)

export const presenceFrame = (users: PresenceEntry[]): string =>
  JSON.stringify({ type: 'PRESENCE', data: { users } } satisfies PresenceList)

export const chatOpenedFrame = (data: ChatOpened['data']): string =>
  JSON.stringify({ type: 'CHAT_OPENED', data } satisfies ChatOpened)

// The relay's hottest frames, from templates: byte for byte JSON.stringify's output (compared on
// hostile strings in test/protocol-fastchat.test.ts).
export const msgFrame = (d: ServerMsg['data']): string =>
  `{"type":"MSG","data":{"from":${jsonString(d.from)},"to":${jsonString(d.to)},"content":${jsonString(d.content)},"message_id":${jsonString(d.message_id)},"timestamp":${jsonString(d.timestamp)}}}`

export const msgAckFrame = (messageId: string, status: ServerMsgAck['data']['status']): string =>
  `{"type":"MSG_ACK","data":{"message_id":${jsonString(messageId)},"status":"${status}"}}`

/** Where a message stands in its chat's log: the fields history connections get on MSG and on the sender's acks. */
export interface LogPlace {
  chat_id: string
  seq: number
}

/** `"chat_id":…,"seq":n`: the members a history connection's MSG and acks carry on top. */
export const logPlaceFields = (place: LogPlace): string => `"chat_id":${jsonString(place.chat_id)},"seq":${place.seq}`

/**
 * A {type, data} frame with JSON members appended to its data: byte for byte JSON.stringify of
 * the longer object, for frames that end with data's closing brace (every FastChat frame does).
 */
export const appendToData = (frame: string, fields: string): string => `${frame.slice(0, -2)},${fields}}}`

/** What a history sender's stored or delivered ack adds to the plain one: the place and the content as stored. */
export const ackedPlaceFields = (place: LogPlace, content: string): string => `${logPlaceFields(place)},"content":${jsonString(content)}`

/** A history sender's ack: stored or delivered, with the place and the content as stored. */
export const storedAckFrame = (messageId: string, status: 'stored' | 'delivered', place: LogPlace, content: string): string =>
  `{"type":"MSG_ACK","data":{"message_id":${jsonString(messageId)},"status":"${status}",${ackedPlaceFields(place, content)}}}`

export const chatsFrame = (chats: ChatSummary[]): string => JSON.stringify({ type: 'CHATS', data: { chats } } satisfies Chats)

export const historyFrame = (data: ServerHistory['data']): string => JSON.stringify({ type: 'HISTORY', data } satisfies ServerHistory)

export const typingFrame = (userId: string, isTyping: boolean): string =>
  JSON.stringify({ type: 'TYPING', data: { user_id: userId, is_typing: isTyping } } satisfies ServerTyping)

export const pongFrame = (timestamp: string): string => JSON.stringify({ type: 'PONG', data: { timestamp } } satisfies Pong)

// ---------------------------------------------------------------- docs (AsyncAPI)

const ALICE = '3f1c2b9e-8a47-4d2b-9c1e-5b7a2d4e6f80'
const BOB = '9b2e4c1a-7d35-4e8f-a6b0-1c2d3e4f5a6b'
const CHAT = 'chat_6b1f0d2c9e8a7b6c5d4e3f2a1b0c9d8e'
const AT = '2024-01-01T12:00:00.000Z'
const CLAIM = 'bX9tQ2V4cGxhaW5lZC1jbGFpbQ'

/**
 * Client messages as the document shows them where the server takes more or less than the
 * schema that validates them; those schemas stay as they are, so nothing here changes what is
 * accepted. PING: routes/ws-main.ts answers one without `data` before validation (SPEC 10).
 * HISTORY: src/chat/history.ts refuses before_seq with after_seq (SPEC 9, "not both"), a rule
 * across two fields that TypeBox's object schema does not state.
 */
const PingAsSent = Type.Object({
  type: Type.Literal('PING'),
  data: Type.Optional(Type.Object({}, { ...strict, description: 'may be left out: {"type":"PING"} is answered too' }))
}, strict)
const historyData = ClientHistory.properties.data
const ClientHistoryAsSent = Type.Object({
  type: ClientHistory.properties.type,
  data: Type.Object(historyData.properties, { ...strict, not: { required: ['before_seq', 'after_seq'] }, description: 'before_seq or after_seq, not both (VALIDATION)' })
}, strict)

/** One line per FastChat message for people (docs/protocol.md, the playground); a flat frame means the same as its enveloped twin. */
const SUMMARY: Record<'in' | 'out', Record<string, string>> = {
  in: {
    HELLO: 'identify: the first FastChat frame (capabilities: presence_delta, history)',
    OPEN_CHAT: 'open a chat with a user',
    MSG: 'a message to the other party of an open chat',
    MSG_ACK: 'the recipient confirms a message: its sender hears `received`',
    TYPING: 'typing started or stopped',
    PING: 'application ping; answered with PONG',
    PONG: 'answer to a server PING; swallowed',
    HISTORY: 'history: a page of a chat\'s log, before or after a seq'
  },
  out: {
    HELLO_ACK: 'HELLO accepted',
    PRESENCE: 'who is online: the full list, or what changed',
    CHAT_OPENED: 'a chat is open; the target is the other party',
    MSG: 'a message for this user',
    MSG_ACK: 'where a message this user sent stands: stored, delivered, received',
    TYPING: 'the other party started or stopped typing',
    PONG: 'answer to PING',
    ERROR: 'a refusal, with its code; the connection stays open',
    CHATS: 'history: this user\'s chats with unread counts, after HELLO',
    HISTORY: 'history: a page of a chat\'s log'
  }
}

/** `docs` with each message's one-line summary, by its type; `own` replaces lines a dialect makes untrue. */
export function summarized(docs: DialectDocs, own: Partial<Record<'in' | 'out', Record<string, string>>> = {}): DialectDocs {
  const add = (dir: 'in' | 'out') => (m: MessageDoc): MessageDoc => ({ summary: own[dir]?.[m.name] ?? SUMMARY[dir][m.name], ...m })
  return { receive: docs.receive.map(add('in')), send: docs.send.map(add('out')) }
}

/** FastChat's half of /ws for the AsyncAPI document; client examples are accepted as they are. */
export const fastchatDocs: DialectDocs = summarized({
  receive: [
    {
      name: 'HELLO', schema: Hello,
      examples: [
        { type: 'HELLO', data: { user_id: ALICE, display_name: 'Alice' } },
        { type: 'HELLO', data: { user_id: ALICE, display_name: 'Alice', capabilities: ['presence_delta'] } },
        { type: 'HELLO', data: { user_id: ALICE, display_name: 'Alice', capabilities: ['history'], claim: CLAIM } }
      ]
    },
    { name: 'OPEN_CHAT', schema: OpenChat, examples: [{ type: 'OPEN_CHAT', data: { target_user_id: BOB, target_display_name: 'Bob' } }] },
    { name: 'MSG', schema: ClientMsg, examples: [{ type: 'MSG', data: { to: BOB, content: 'Hello Bob', message_id: 'm-1' } }] },
    { name: 'MSG_ACK', schema: ClientMsgAck, examples: [{ type: 'MSG_ACK', data: { message_id: 'm-1' } }, { type: 'MSG_ACK', data: { message_id: 'm-1', chat_id: CHAT } }] },
    { name: 'TYPING', schema: ClientTyping, examples: [{ type: 'TYPING', data: { is_typing: true, to: BOB } }] },
    { name: 'PING', schema: PingAsSent, examples: [{ type: 'PING', data: {} }] },
    { name: 'HISTORY', schema: ClientHistoryAsSent, examples: [{ type: 'HISTORY', data: { chat_id: CHAT, before_seq: 51, limit: 50 } }, { type: 'HISTORY', data: { chat_id: CHAT, after_seq: 120 } }] }
  ],
  send: [
    { name: 'HELLO_ACK', schema: HelloAck, examples: [{ type: 'HELLO_ACK', data: { user_id: ALICE, status: 'connected' } }, { type: 'HELLO_ACK', data: { user_id: ALICE, status: 'connected', claim: CLAIM } }] },
    { name: 'PRESENCE', schema: PresenceList, examples: [{ type: 'PRESENCE', data: { users: [{ user_id: ALICE, display_name: 'Alice', online: true }, { user_id: BOB, display_name: 'Bob', online: true }] } }] },
    { name: 'CHAT_OPENED', schema: ChatOpened, examples: [{ type: 'CHAT_OPENED', data: { chat_id: CHAT, participants: [ALICE, BOB], target_user_id: BOB, target_display_name: 'Bob' } }] },
    {
      name: 'MSG', schema: ServerMsg,
      examples: [
        { type: 'MSG', data: { from: ALICE, to: BOB, content: 'Hello Bob', message_id: 'm-1', timestamp: AT } },
        { type: 'MSG', data: { from: ALICE, to: BOB, content: 'Hello Bob', message_id: 'm-1', timestamp: AT, chat_id: CHAT, seq: 7 } }
      ]
    },
    {
      name: 'MSG_ACK', schema: ServerMsgAck,
      examples: [
        { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'delivered' } },
        { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'received' } },
        { type: 'MSG_ACK', data: { message_id: 'm-1', status: 'stored', chat_id: CHAT, seq: 7, content: 'Hello Bob' } }
      ]
    },
    { name: 'TYPING', schema: ServerTyping, examples: [{ type: 'TYPING', data: { user_id: ALICE, is_typing: true } }] },
    { name: 'PONG', schema: Pong, examples: [{ type: 'PONG', data: { timestamp: AT } }] },
    { name: 'CHATS', schema: Chats, examples: [{ type: 'CHATS', data: { chats: [{ chat_id: CHAT, target_user_id: BOB, target_display_name: 'Bob', epoch: 'q3Zt9wE1', last_seq: 7, unread: 2 }] } }] },
    {
      name: 'HISTORY', schema: ServerHistory,
      examples: [{
        type: 'HISTORY',
        data: {
          chat_id: CHAT, epoch: 'q3Zt9wE1', first_seq: 1, last_seq: 7, has_more: false,
          messages: [{ from: ALICE, to: BOB, content: 'Hello Bob', message_id: 'm-1', timestamp: AT, seq: 7, status: 'received' }]
        }
      }]
    },
    {
      name: 'ERROR', schema: ErrorMessage,
      examples: [
        { type: 'ERROR', data: { code: 'VALIDATION', message: 'invalid HELLO: /data/user_id: must be a UUID v4', details: { errors: [{ path: '/data/user_id', message: 'must be a UUID v4' }] } } },
        { type: 'ERROR', data: { code: 'RATE_LIMITED', message: 'too many messages', details: { message_id: 'm-61', retry_after_ms: 41250 } } }
      ]
    }
  ]
})
