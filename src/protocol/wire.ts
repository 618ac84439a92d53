// The frames the client SDK sends and reads (SPEC sections 2, 3 and 9) as plain TypeScript types,
// free of TypeBox, so that the published package's declarations (packages/client) stand alone.
// The schemas in fastchat.ts and main.ts stay the one source of truth: test/types/wire.ts fails
// `npm run typecheck` the moment a type here and its schema's Static<> differ in either direction.
import type { ErrorCode } from './error-codes.ts'

// ---------------------------------------------------------------- client → server

export interface Hello {
  type: 'HELLO'
  data: { user_id: string; display_name: string; capabilities?: string[]; token?: string; claim?: string }
}
export interface OpenChat { type: 'OPEN_CHAT'; data: { target_user_id: string; target_display_name?: string } }
export interface ClientMsg { type: 'MSG'; data: { to: string; content: string; message_id?: string } }
export interface ClientMsgAck { type: 'MSG_ACK'; data: { message_id: string; status?: 'received'; chat_id?: string } }
export interface ClientTyping { type: 'TYPING'; data: { is_typing: boolean; to?: string } }
export interface Ping { type: 'PING'; data: Record<never, never> } // {}: no fields
export interface ClientHistory {
  type: 'HISTORY'
  data: { chat_id: string; before_seq?: number; after_seq?: number; limit?: number }
}
export type ClientMessage = Hello | OpenChat | ClientMsg | ClientMsgAck | ClientTyping | Ping | ClientHistory

// ---------------------------------------------------------------- server → client

export interface Welcome {
  type: 'WELCOME'
  data: { client_id: string; server_time: string; protocols: string[]; heartbeat: { ping_interval: number; pong_timeout: number } }
}
export interface HelloAck { type: 'HELLO_ACK'; data: { user_id: string; status: 'connected'; claim?: string } }
export interface PresenceEntry { user_id: string; display_name: string; online: boolean }
export interface PresenceList { type: 'PRESENCE'; data: { users: PresenceEntry[] } }
export interface ChatOpened {
  type: 'CHAT_OPENED'
  data: { chat_id: string; participants: [string, string]; target_user_id: string; target_display_name: string; last_seq?: number }
}
export interface ServerMsg {
  type: 'MSG'
  data: { from: string; to: string; content: string; message_id: string; timestamp: string; chat_id?: string; seq?: number }
}
export type MessageStatus = 'stored' | 'delivered' | 'received'
export interface ServerMsgAck {
  type: 'MSG_ACK'
  data: { message_id: string; status: MessageStatus; chat_id?: string; seq?: number; content?: string }
}
export interface ServerTyping { type: 'TYPING'; data: { user_id: string; is_typing: boolean } }
export interface Pong { type: 'PONG'; data: { timestamp: string } }
export interface ErrorMessage { type: 'ERROR'; data: { code: ErrorCode; message: string; details: Record<string, unknown> } }
export interface ChatSummary {
  chat_id: string; target_user_id: string; target_display_name: string; epoch: string; last_seq: number; unread: number
}
export interface Chats { type: 'CHATS'; data: { chats: ChatSummary[] } }
export interface StoredMsg {
  from: string; to: string; content: string; message_id: string; timestamp: string; seq: number; status: MessageStatus
}
export interface ServerHistory {
  type: 'HISTORY'
  data: { chat_id: string; epoch: string; first_seq: number; last_seq: number; messages: StoredMsg[]; has_more: boolean }
}
