// The chat history store (SPEC section 9): one log per chat with `seq` 1, 2, 3 … assigned
// atomically, dedupe by (sender, message_id), delivery and receipt watermarks per reader,
// known users with their hashed claims, paging, a user's chats with unread counts, retention by
// count and age. Three implementations pass one contract (test/history/contract.ts):
// memory.ts (tests, HISTORY_STORE=memory), sqlite.ts (the embedded default, one file under
// DATA_DIR) and redis.ts (shared by every instance). Nothing outside src/history knows which runs.
//
// Receipts are watermarks, as in most chat apps' read receipts: a reader's messages arrive in
// seq order, so confirming message n says every earlier message to that reader arrived too.
// A message's status is derived from them: `received` when seq ≤ the recipient's received
// mark, else `delivered` when seq ≤ its delivered mark, else `stored`.
import type { Awaitable } from '../lib/awaitable.ts'

export type MessageStatus = 'stored' | 'delivered' | 'received'

export interface NewMessage {
  chat_id: string
  from: string
  to: string
  /** As stored: already sanitized. */
  content: string
  message_id: string
  /** ISO-8601, the service's acceptance time. */
  timestamp: string
}

export interface StoredMessage extends NewMessage {
  seq: number
  status: MessageStatus
}

/** Where a receipt landed: the confirmed message's place and its two users (status: received). */
export type Receipt = Pick<StoredMessage, 'chat_id' | 'from' | 'to' | 'message_id' | 'seq'>

export interface Appended {
  /** The message as kept: for a duplicate, the original (its seq, content, timestamp, status). */
  message: StoredMessage
  epoch: string
  /** True when (from, message_id) was already in this chat's log: nothing was written. */
  duplicate: boolean
  /**
   * The seq of the log's previous message to the same recipient (0: none), for markDelivered's
   * `after`. Not meaningful for a duplicate.
   */
  previousTo: number
}

export interface ChatSummary {
  chat_id: string
  /** The other participant, seen from the user the list is for. */
  target_user_id: string
  epoch: string
  last_seq: number
  /** Messages to this user with seq above its received mark. */
  unread: number
  /** Epoch ms of the last message. */
  last_at: number
}

export interface PageQuery {
  /** Messages with seq < before_seq, the newest `limit` of them. */
  before_seq?: number
  /** Messages with seq > after_seq, the oldest `limit` of them. */
  after_seq?: number
  /** 1–100. */
  limit: number
}

export interface Page {
  chat_id: string
  epoch: string
  /** The oldest seq still kept (last_seq + 1 when the log is empty after trimming). */
  first_seq: number
  last_seq: number
  /** Oldest first. */
  messages: StoredMessage[]
  /** More messages in the paging direction: older than the first (before_seq or neither), newer than the last (after_seq). */
  has_more: boolean
}

/** A chat with messages to `reader` above its delivered mark: what a HELLO must hand over. */
export interface Backlog {
  chat_id: string
  /** The sender side of the chat (the other participant). */
  target_user_id: string
  epoch: string
  last_seq: number
  /** Messages to the reader with seq above its delivered mark, in seq order. */
  messages: StoredMessage[]
}

export interface HistoryLimits {
  /** HISTORY_MAX_PER_CHAT: a log keeps at most this many messages, the oldest go first. */
  maxPerChat: number
  /** HISTORY_TTL_S: a log expires this long after its last message; a user this long after last seen. */
  ttlS: number
}

export interface HistoryStore {
  readonly kind: 'memory' | 'sqlite' | 'redis'

  /**
   * Append to the chat's log (made on first use with a fresh epoch): the next seq, unless
   * (from, message_id) is already there. Resolves once the write is durable for this store
   * (SQLite: committed in WAL; Redis: acknowledged by the server). Trims to maxPerChat and
   * pushes the log's expiry to now + ttlS.
   */
  append(msg: NewMessage): Awaitable<Appended>

  /**
   * `reader` has been handed every message to it up to `seq` (the mark only moves up). A store
   * may write it with its next commit rather than at once: a mark lost in a crash only means the
   * message is handed over again, which clients drop as a repeat. With `after` (the handed
   * message's `previousTo`), only once the mark has reached it: a message handed over live while
   * an earlier one to the same reader still waits in the log (stored while the reader was away,
   * who came back without the history capability) leaves the mark, so the next history HELLO's
   * backlog still holds the earlier one.
   */
  markDelivered(chatId: string, reader: string, seq: number, after?: number): Awaitable<void>

  /**
   * markDelivered for a reader's greeting, answering the mark as it was before: of the messages
   * just handed over, only those above it are news to their senders. (A reader's tabs that say
   * HELLO at once are each handed the backlog; each message's `delivered` is told once, by the
   * first, and never after a `received`.) `seq` itself when the reader has no such chat.
   */
  raiseDelivered(chatId: string, reader: string, seq: number): Awaitable<number>

  /**
   * `reader` confirmed the message (from, message_id) of the chat: its received mark (and its
   * delivered mark) move up to that message's seq. Where the receipt landed (what the sender's
   * `received` ack carries), or undefined when the log has no such message to this reader. Not
   * the message itself: a store that knows the seq of an id need not read the row for a receipt.
   */
  markReceived(chatId: string, reader: string, from: string, messageId: string): Awaitable<Receipt | undefined>

  /** A page of the chat's log, or undefined when the chat has no log (unknown or expired). */
  page(chatId: string, query: PageQuery): Awaitable<Page | undefined>

  /** The chats of `userId` that have a log, most recent activity first, at most `limit`. */
  chatsOf(userId: string, limit: number): Awaitable<ChatSummary[]>

  /** Chats with messages to `userId` not yet delivered, oldest activity first. */
  backlog(userId: string): Awaitable<Backlog[]>

  /**
   * `user` is online now: remember their display name; known until ttlS after `seen` is
   * next refreshed. Called at a history HELLO and when the user's last connection goes.
   */
  seen(userId: string, displayName: string): Awaitable<void>

  /** The display name of a known user (seen within ttlS), else undefined. */
  known(userId: string): Awaitable<string | undefined>

  /**
   * The stored hash of the user's claim, if one was issued. A claim outlives the user's known
   * period (at least 2 × ttlS after last seen): a log the user is in may live up to ttlS after
   * they stopped being known, and a claim gone before it would let anyone take the id.
   */
  claimHash(userId: string): Awaitable<string | undefined>

  /** Store the hash unless one is there; true when this call stored it. */
  setClaimHash(userId: string, hash: string): Awaitable<boolean>

  /**
   * A flat FastChat user's current chat partner (SPEC section 10: the app's MSG names no
   * recipient), kept ttlS after it was last set, so a tab that comes back after a restart still
   * messages whom its screen shows.
   */
  partnerOf(userId: string): Awaitable<string | undefined>
  /** Queued with the next write, with nothing to wait for: losing one only means the app's user opens the chat again. */
  setPartner(userId: string, partnerId: string): void

  /** Flush what is pending and let go of files and connections. */
  close(): Promise<void>
}
