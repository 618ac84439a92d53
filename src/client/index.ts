// The FastChat client SDK: import from here (browser bundles and Node alike).
export {
  FastChatClient, FastChatError,
  type CaughtUp, type ChatLogState, type ChatReset, type ChatSummary, type ConnectionState, type FastChatClientOptions, type FastChatEvents,
  type HistoryPage, type HistoryQuery, type Identity, type IncomingMessage, type MessageStatus, type PresenceUpdate,
  type ReconnectScheduled, type SendOptions, type SendResult, type StateChange, type StatusChange, type StoredStatus,
  type WebSocketConstructor, type WebSocketLike
} from './client.ts'
export { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts'
export { PresenceMap } from './presence.ts'
export { isUuidV4, uuidv4 } from '../lib/uuid.ts'
export type { ErrorCode } from '../protocol/error-codes.ts'
export type { ChatOpened, ErrorMessage, HelloAck, PresenceEntry, ServerMsg, ServerMsgAck, ServerTyping, StoredMsg } from '../protocol/wire.ts'
