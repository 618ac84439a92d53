// The embedded history store (HISTORY_STORE=sqlite, the default without REDIS_URL): one
// SQLite file, DATA_DIR/history.db, written through better-sqlite3.
//
// Durability costs a commit, so writes are batched per event-loop turn: append assigns the seq
// at once from a cache of chat rows (one process owns the file, so the cache is the truth),
// queues its insert, and a flush on setImmediate commits everything queued in ONE transaction.
// Every write resolves only after that commit, because the service acks a message only once it
// would survive a crash. Reads of the log (pages, CHATS, backlogs, a duplicate's original)
// flush first, so they never miss a write that already has a seq; receipts and the lookups of
// users, partners and claims (once per MSG to an offline user, per flat MSG without `to`, per
// HELLO) answer from what is queued instead, so that they never force a commit per message.
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { BackplaneLog } from '../backplane/redis-link.ts'
import { clampLimit, messageTime, pageWindow, statusOf } from './rules.ts'
import { startCheckpointer, type Checkpointer } from './sqlite-checkpoint.ts'
import type {
  Appended,
  Receipt,
  Backlog,
  ChatSummary,
  HistoryLimits,
  HistoryStore,
  NewMessage,
  Page,
  PageQuery,
  StoredMessage
} from './store.ts'

export interface SqliteHistory extends HistoryStore {
  readonly kind: 'sqlite'
  /** Transactions committed by flushes so far: lets a test see that one turn's writes were one commit. */
  readonly flushes: number
  /** WAL checkpoints the worker thread ran (sqlite-checkpoint.ts): none runs on the serving thread. */
  readonly checkpoints: number
  /** Bytes on disk, database plus write-ahead log: the bench divides it by the messages stored. */
  fileBytes(): number
}

export interface SqliteHistoryOptions {
  dir: string
  limits: HistoryLimits
  now?: () => number
  /** Where the expiry sweep's failures go (it runs on a timer, with no caller to tell). */
  log?: Pick<BackplaneLog, 'warn'>
}

/**
 * claims.expires_at's default: a claim written without it (by the release before claims expired,
 * after a downgrade) is kept for good, as that release kept it, never taken as expired.
 */
const NEVER = 8_640_000_000_000_000

// Chats are keyed by a small integer so each message row and index entry carries 8 bytes, not
// the 37-character chat_id; the sender is a flag (1 = user_a) since the chat names both sides.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS chats (
  id INTEGER PRIMARY KEY,
  chat_id TEXT NOT NULL UNIQUE,
  user_a TEXT NOT NULL,
  user_b TEXT NOT NULL,
  epoch TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chats_user_a ON chats (user_a);
CREATE INDEX IF NOT EXISTS chats_user_b ON chats (user_b);
CREATE INDEX IF NOT EXISTS chats_expires ON chats (expires_at);
CREATE TABLE IF NOT EXISTS marks (
  chat INTEGER NOT NULL,
  user TEXT NOT NULL,
  delivered INTEGER NOT NULL,
  received INTEGER NOT NULL,
  PRIMARY KEY (chat, user)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  chat INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  from_a INTEGER NOT NULL,
  message_id TEXT NOT NULL,
  content TEXT NOT NULL,
  ts TEXT NOT NULL,
  PRIMARY KEY (chat, seq)
) WITHOUT ROWID;
DROP INDEX IF EXISTS messages_dedupe;
CREATE TABLE IF NOT EXISTS users (
  user_id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_expires ON users (expires_at);
CREATE TABLE IF NOT EXISTS claims (
  user_id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT ${NEVER}
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_expires ON claims (expires_at);
CREATE TABLE IF NOT EXISTS partners (
  user_id TEXT PRIMARY KEY,
  partner TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
`

interface ChatRow {
  id: number
  chat_id: string
  user_a: string
  user_b: string
  epoch: string
  first_seq: number
  last_seq: number
  last_at: number
  expires_at: number
}

interface Chat extends ChatRow {
  /**
   * Every kept message's id → seq, by sender, read from the table when the chat is
   * first written to and kept up to date since: the dedupe check of every append, without an
   * index to read or to write (an index on uuid ids costs a read and a scattered leaf per
   * message). Dropped under memory pressure (ID_BUDGET) and read again when next needed.
   */
  ids?: ChatIds
  /** Read or written since the cache last looked (second-chance eviction: no reordering per access). */
  used: boolean
  /** Marks waiting for the next commit, by reader: one write per chat and reader per commit. */
  marksQueued?: Map<string, PendingMark>
  /** The first_seq the table was last trimmed to: a commit trims only when first_seq moved past it. */
  trimmed: number
  /** Its row is in the table: a commit updates the four columns that move instead of an upsert. */
  inTable: boolean
  /**
   * Each reader's delivered mark as far as this process knows (the table's, read once, raised
   * with every raise since): markDelivered's `after` is checked per MSG without a read.
   */
  delivered?: Map<string, number>
}

/** A participant's marks waiting for the next commit: one write per chat and reader per commit, whatever the number of messages. */
interface PendingMark {
  chat: number
  user: string
  delivered: number
  received: number
}

interface MessageRow {
  seq: number
  from_a: number
  message_id: string
  content: string
  ts: string
}

interface MarkRow {
  user: string
  delivered: number
  received: number
}

interface Waiter {
  resolve: (value: never) => void
  reject: (err: unknown) => void
  value: unknown
}

/** Clean chat rows kept in memory beyond one turn; a miss costs one indexed read. */
const CACHE_MAX = 50_000
/** Message ids held in memory across all chats (ChatIds) before the least recently used chats let theirs go. */
const ID_BUDGET = 500_000

/**
 * A chat's kept message ids: by sender for dedupe, in seq order (from `base`) so trimming can drop
 * them. Keyed by the message_id string itself, one map per sender, not a key joined per append:
 * the id's hash is then computed once and no second string is kept per id (docs/bench.md).
 */
interface ChatIds {
  bySeq: string[]
  /** The seq of bySeq[head]. */
  base: number
  head: number
  /** Ids user_a sent → seq. */
  fromA: Map<string, number>
  /** Ids user_b sent → seq. */
  fromB: Map<string, number>
  /** The newest message seq to user_a, and to user_b: the next one's previousTo. */
  lastToA: number
  lastToB: number
}

const newIds = (base: number): ChatIds => ({ bySeq: [], base, head: 0, fromA: new Map(), fromB: new Map(), lastToA: 0, lastToB: 0 })
const idsFrom = (ids: ChatIds, fromA: number): Map<string, number> => (fromA ? ids.fromA : ids.fromB)

export function openSqliteHistory(opts: SqliteHistoryOptions): SqliteHistory {
  mkdirSync(opts.dir, { recursive: true })
  return new SqliteStore(join(opts.dir, 'history.db'), opts.limits, opts.now ?? Date.now, opts.log)
}

class SqliteStore implements SqliteHistory {
  readonly kind = 'sqlite' as const
  private readonly db: Database.Database
  private readonly ttlMs: number
  private readonly cache = new Map<string, Chat>()
  /** Message ids held in all chats' ChatIds. */
  private idCount = 0
  private readonly dirty = new Set<Chat>()
  private ops: Array<() => void> = []
  /**
   * What seen(), setPartner() and setClaimHash() queued for the next commit, by user: known(),
   * partnerOf() and claimHash() answer from here before the table instead of committing first. A
   * commit per read would undo the batching: known() runs for every MSG to an offline user,
   * partnerOf() for every flat MSG and TYPING without a `to`.
   */
  private readonly queued = { users: new Map<string, string>(), partners: new Map<string, string>(), claims: new Map<string, string>() }
  /**
   * Message rows waiting for the commit, flat: (chat, seq, from_a, message_id, content, ts) per
   * message. One array instead of a closure per message: appends are the hot path.
   */
  private rows: Array<number | string> = []
  private marked = new Set<Chat>()
  private readonly checkpointer: Checkpointer
  private waiters: Waiter[] = []
  private scheduled: NodeJS.Immediate | undefined
  private readonly sweeper: NodeJS.Timeout
  private nextChatId: number
  private committed = 0
  private closed = false

  private readonly q
  private readonly commit: (rows: Array<number | string>, ops: Array<() => void>, dirty: Set<Chat>, marked: Set<Chat>) => void
  private readonly sweepTx: (now: number) => string[]

  constructor(
    private readonly path: string,
    private readonly limits: HistoryLimits,
    private readonly now: () => number,
    private readonly log: Pick<BackplaneLog, 'warn'> | undefined
  ) {
    this.ttlMs = limits.ttlS * 1000
    const db = (this.db = new Database(path))
    db.pragma('journal_mode = WAL')
    // In WAL mode NORMAL keeps every commit through a process crash; only an OS crash or power
    // loss can drop the last few, and it spares an fsync per commit.
    db.pragma('synchronous = NORMAL')
    migrateClaims(db, this.now() + 2 * this.ttlMs)
    db.exec(SCHEMA)

    this.q = {
      chatById: db.prepare<[string], ChatRow>('SELECT * FROM chats WHERE chat_id = ?'),
      maxChatId: db.prepare<[], { id: number }>('SELECT coalesce(max(id), 0) AS id FROM chats'),
      upsertChat: db.prepare<ChatRow>(
        `INSERT INTO chats (id, chat_id, user_a, user_b, epoch, first_seq, last_seq, last_at, expires_at)
         VALUES (@id, @chat_id, @user_a, @user_b, @epoch, @first_seq, @last_seq, @last_at, @expires_at)
         ON CONFLICT (id) DO UPDATE SET first_seq = excluded.first_seq, last_seq = excluded.last_seq,
           last_at = excluded.last_at, expires_at = excluded.expires_at`
      ),
      // Positional and plain UPDATE: every dirty chat runs it once per commit, the upsert only when new.
      touchChat: db.prepare<[number, number, number, number, number]>('UPDATE chats SET first_seq = ?, last_seq = ?, last_at = ?, expires_at = ? WHERE id = ?'),
      trim: db.prepare<[number, number]>('DELETE FROM messages WHERE chat = ? AND seq < ?'),
      dropMessages: db.prepare<[number]>('DELETE FROM messages WHERE chat = ?'),
      dropMarks: db.prepare<[number]>('DELETE FROM marks WHERE chat = ?'),
      dropChat: db.prepare<[number]>('DELETE FROM chats WHERE id = ?'),
      insertMessage: db.prepare<[number, number, number, string, string, string]>(
        'INSERT INTO messages (chat, seq, from_a, message_id, content, ts) VALUES (?, ?, ?, ?, ?, ?)'
      ),
      messageBySeq: db.prepare<[number, number], MessageRow>(
        'SELECT seq, from_a, message_id, content, ts FROM messages WHERE chat = ? AND seq = ?'
      ),
      keptIds: db.prepare<[number, number], { seq: number; from_a: number; message_id: string }>(
        'SELECT seq, from_a, message_id FROM messages WHERE chat = ? AND seq >= ? ORDER BY seq'
      ),
      messageRange: db.prepare<[number, number, number], MessageRow>(
        'SELECT seq, from_a, message_id, content, ts FROM messages WHERE chat = ? AND seq BETWEEN ? AND ? ORDER BY seq'
      ),
      marks: db.prepare<[number], MarkRow>('SELECT user, delivered, received FROM marks WHERE chat = ?'),
      deliveredMark: db.prepare<[number, string], { delivered: number }>('SELECT delivered FROM marks WHERE chat = ? AND user = ?'),
      bumpMarks: db.prepare<[number, number, number, string]>('UPDATE marks SET delivered = max(delivered, ?), received = max(received, ?) WHERE chat = ? AND user = ?'),
      raiseMarks: db.prepare<[number, string, number, number]>(
        `INSERT INTO marks (chat, user, delivered, received) VALUES (?, ?, ?, ?)
         ON CONFLICT (chat, user) DO UPDATE SET delivered = max(delivered, excluded.delivered), received = max(received, excluded.received)`
      ),
      chatsOf: db.prepare<{ user: string; now: number; limit: number }, ChatRow & { unread: number }>(
        `SELECT c.*, (SELECT count(*) FROM messages m WHERE m.chat = c.id AND m.from_a = (c.user_b = @user)
             AND m.seq > coalesce((SELECT k.received FROM marks k WHERE k.chat = c.id AND k.user = @user), 0)) AS unread
         FROM chats c WHERE (c.user_a = @user OR c.user_b = @user) AND c.expires_at > @now
         ORDER BY c.last_at DESC, c.chat_id LIMIT @limit`
      ),
      backlog: db.prepare<{ user: string; now: number }, ChatRow & MessageRow & { delivered: number; received: number }>(
        `SELECT c.*, m.seq, m.from_a, m.message_id, m.content, m.ts,
           coalesce(k.delivered, 0) AS delivered, coalesce(k.received, 0) AS received
         FROM chats c
         LEFT JOIN marks k ON k.chat = c.id AND k.user = @user
         JOIN messages m ON m.chat = c.id AND m.seq > coalesce(k.delivered, 0) AND m.from_a = (c.user_b = @user)
         WHERE (c.user_a = @user OR c.user_b = @user) AND c.expires_at > @now
         ORDER BY c.last_at, c.chat_id, m.seq`
      ),
      seen: db.prepare<[string, string, number]>(
        `INSERT INTO users (user_id, display_name, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name, expires_at = excluded.expires_at`
      ),
      known: db.prepare<[string, number], { display_name: string }>('SELECT display_name FROM users WHERE user_id = ? AND expires_at > ?'),
      claim: db.prepare<[string, number], { hash: string }>('SELECT hash FROM claims WHERE user_id = ? AND expires_at > ?'),
      // Over an expired row not swept yet: claimHash() said there is none.
      setClaim: db.prepare<[string, string, number]>(
        'INSERT INTO claims (user_id, hash, expires_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, expires_at = excluded.expires_at'
      ),
      keepClaim: db.prepare<[number, string]>('UPDATE claims SET expires_at = max(expires_at, ?) WHERE user_id = ?'),
      sweepClaims: db.prepare<[number]>('DELETE FROM claims WHERE expires_at <= ?'),
      sweepMessages: db.prepare<[number]>('DELETE FROM messages WHERE chat IN (SELECT id FROM chats WHERE expires_at <= ?)'),
      sweepMarks: db.prepare<[number]>('DELETE FROM marks WHERE chat IN (SELECT id FROM chats WHERE expires_at <= ?)'),
      sweepChats: db.prepare<[number], { chat_id: string }>('DELETE FROM chats WHERE expires_at <= ? RETURNING chat_id'),
      sweepUsers: db.prepare<[number]>('DELETE FROM users WHERE expires_at <= ?'),
      partner: db.prepare<[string, number], { partner: string }>('SELECT partner FROM partners WHERE user_id = ? AND expires_at > ?'),
      setPartner: db.prepare<[string, string, number]>(
        'INSERT INTO partners (user_id, partner, expires_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET partner = excluded.partner, expires_at = excluded.expires_at'
      ),
      sweepPartners: db.prepare<[number]>('DELETE FROM partners WHERE expires_at <= ?')
    }
    const q = this.q

    this.commit = db.transaction((rows: Array<number | string>, ops: Array<() => void>, dirty: Set<Chat>, marked: Set<Chat>) => {
      // Rows first: an op that drops an expired chat must come after the rows queued for it.
      const insert = q.insertMessage
      for (let i = 0; i < rows.length; i += 6) insert.run(rows[i] as number, rows[i + 1] as number, rows[i + 2] as number, rows[i + 3] as string, rows[i + 4] as string, rows[i + 5] as string)
      for (const op of ops) op()
      // An UPDATE first: the row is there for every mark but a reader's first (cheaper than the upsert's failed insert).
      for (const chat of marked) {
        for (const m of chat.marksQueued!.values()) {
          if (q.bumpMarks.run(m.delivered, m.received, m.chat, m.user).changes === 0) q.raiseMarks.run(m.chat, m.user, m.delivered, m.received)
        }
      }
      for (const chat of dirty) {
        if (chat.inTable) q.touchChat.run(chat.first_seq, chat.last_seq, chat.last_at, chat.expires_at, chat.id)
        else q.upsertChat.run(row(chat))
        if (chat.first_seq > chat.trimmed) q.trim.run(chat.id, chat.first_seq)
      }
    })
    this.sweepTx = db.transaction((now: number) => {
      q.sweepMessages.run(now)
      q.sweepMarks.run(now)
      const gone = q.sweepChats.all(now).map((r) => r.chat_id)
      q.sweepUsers.run(now)
      q.sweepPartners.run(now)
      q.sweepClaims.run(now)
      return gone
    })

    this.nextChatId = q.maxChatId.get()!.id + 1
    // Expired rows nobody reads still leave the file within about a TTL (at most a minute).
    this.sweeper = setInterval(() => this.sweep(), Math.min(Math.max(this.ttlMs, 1000), 60_000))
    this.sweeper.unref()
    // Checkpoints (a copy and two fsyncs) run in a worker thread, not between two messages here.
    db.pragma('wal_autocheckpoint = 0')
    this.checkpointer = startCheckpointer(path, () => {
      if (!this.closed) db.pragma('wal_autocheckpoint = 1000') // SQLite's default: checkpoint here again
    })
  }

  /** Checkpoints the worker has run (a test checks they happen off this thread). */
  get checkpoints(): number {
    return this.checkpointer.runs
  }

  get flushes(): number {
    return this.committed
  }

  fileBytes(): number {
    const size = (p: string) => statSync(p, { throwIfNoEntry: false })?.size ?? 0
    return size(this.path) + size(`${this.path}-wal`)
  }

  append(msg: NewMessage): Promise<Appended> {
    this.assertOpen()
    let chat = this.chat(msg.chat_id)
    if (!chat) {
      const now = this.now()
      chat = { id: this.nextChatId++, chat_id: msg.chat_id, user_a: msg.from, user_b: msg.to, epoch: randomBytes(6).toString('base64url'), first_seq: 1, last_seq: 0, last_at: now, expires_at: now, trimmed: 1, ids: newIds(1), used: true, inTable: false }
      this.cache.set(chat.chat_id, chat)
    }
    const fromA = msg.from === chat.user_a ? 1 : 0
    if (!fromA && msg.from !== chat.user_b) return Promise.reject(new Error(`${msg.from} is not a participant of ${msg.chat_id}`))
    const ids = this.idsOf(chat)
    const sent = idsFrom(ids, fromA)

    const seen = sent.get(msg.message_id)
    if (seen !== undefined) {
      this.flush() // the original may be queued still, and its status may hang on queued marks
      const original = this.q.messageBySeq.get(chat.id, seen)
      // Not there after that flush: its commit failed and was rolled back, so the original's
      // append was rejected, and its retry in the same turn is too (the relay answers both with
      // MESSAGE_FAILED; a later retry starts afresh).
      if (!original) return Promise.reject(new Error(`message ${msg.message_id} of ${msg.chat_id} was not stored: its commit failed`))
      return Promise.resolve({ message: this.view(chat, original, this.marksOf(chat)), epoch: chat.epoch, duplicate: true, previousTo: 0 })
    }

    const seq = chat.last_seq + 1
    chat.last_seq = seq
    chat.first_seq = Math.max(chat.first_seq, seq - this.limits.maxPerChat + 1)
    chat.last_at = messageTime(msg.timestamp, this.now)
    chat.expires_at = this.now() + this.ttlMs
    this.remember(ids, sent, msg.message_id, seq, chat.first_seq)
    const previousTo = fromA ? ids.lastToB : ids.lastToA
    if (fromA) ids.lastToB = seq
    else ids.lastToA = seq
    this.dirty.add(chat)
    this.rows.push(chat.id, seq, fromA, msg.message_id, msg.content, msg.timestamp)
    const message: StoredMessage = { chat_id: msg.chat_id, from: msg.from, to: msg.to, content: msg.content, message_id: msg.message_id, timestamp: msg.timestamp, seq, status: 'stored' }
    return this.after<Appended>({ message, epoch: chat.epoch, duplicate: false, previousTo })
  }

  /** Queued for the next commit, with nothing to wait for: the relay does not wait for a mark (store.ts). */
  markDelivered(chatId: string, reader: string, seq: number, after = 0): void {
    this.assertOpen()
    const chat = this.chat(chatId)
    if (!chat || (reader !== chat.user_a && reader !== chat.user_b)) return
    if (after > 0 && this.deliveredOf(chat, reader) < after) return
    this.deliveredTo(chat, reader, seq)
  }

  /** markDelivered, and the mark before it (one read of the table; the relay's own marks never ask). */
  raiseDelivered(chatId: string, reader: string, seq: number): number {
    this.assertOpen()
    const chat = this.chat(chatId)
    if (!chat || (reader !== chat.user_a && reader !== chat.user_b)) return seq
    const before = this.deliveredOf(chat, reader)
    this.deliveredTo(chat, reader, seq)
    return before
  }

  private deliveredTo(chat: Chat, reader: string, seq: number): void {
    const upTo = Math.min(seq, chat.last_seq)
    if (upTo < 1) return
    this.raise(chat, reader, upTo, 0)
    this.schedule()
  }

  markReceived(chatId: string, reader: string, from: string, messageId: string): Promise<Receipt | undefined> {
    this.assertOpen()
    const chat = this.chat(chatId)
    if (!chat) return Promise.resolve(undefined)
    const to = from === chat.user_a ? chat.user_b : from === chat.user_b ? chat.user_a : undefined
    if (to === undefined || to !== reader) return Promise.resolve(undefined)
    const seq = idsFrom(this.idsOf(chat), from === chat.user_a ? 1 : 0).get(messageId)
    if (seq === undefined) return Promise.resolve(undefined)
    // A reader may confirm every message it is handed (the SDK's autoReceipt does), so neither a
    // commit first nor a read of the row (docs/bench.md, "Receipts"): an id held has its row kept
    // or queued (ids leave at the append that trims their rows), and the mark commits with or
    // after its row.
    this.raise(chat, reader, seq, seq)
    return this.after<Receipt | undefined>({ chat_id: chat.chat_id, from, to, message_id: messageId, seq })
  }

  page(chatId: string, query: PageQuery): Page | undefined {
    this.assertOpen()
    this.flush()
    const chat = this.chat(chatId)
    if (!chat) return undefined
    const w = pageWindow(chat.first_seq, chat.last_seq, query.before_seq, query.after_seq, clampLimit(query.limit))
    const marks = this.marksOf(chat)
    const messages = w.from > w.to ? [] : this.q.messageRange.all(chat.id, w.from, w.to).map((r) => this.view(chat, r, marks))
    return { chat_id: chatId, epoch: chat.epoch, first_seq: chat.first_seq, last_seq: chat.last_seq, messages, has_more: w.hasMore }
  }

  chatsOf(userId: string, limit: number): ChatSummary[] {
    this.assertOpen()
    this.flush()
    return this.q.chatsOf.all({ user: userId, now: this.now(), limit: Math.max(0, limit) }).map((c) => ({
      chat_id: c.chat_id,
      target_user_id: c.user_a === userId ? c.user_b : c.user_a,
      epoch: c.epoch,
      last_seq: c.last_seq,
      unread: c.unread,
      last_at: c.last_at
    }))
  }

  backlog(userId: string): Backlog[] {
    this.assertOpen()
    this.flush()
    const out: Backlog[] = []
    let current: Backlog | undefined
    for (const r of this.q.backlog.all({ user: userId, now: this.now() })) {
      if (current?.chat_id !== r.chat_id) {
        current = { chat_id: r.chat_id, target_user_id: r.user_a === userId ? r.user_b : r.user_a, epoch: r.epoch, last_seq: r.last_seq, messages: [] }
        out.push(current)
      }
      current.messages.push(this.view(r, r, [{ user: userId, delivered: r.delivered, received: r.received }]))
    }
    return out
  }

  seen(userId: string, displayName: string): Promise<void> {
    this.assertOpen()
    const expires = this.now() + this.ttlMs
    this.queued.users.set(userId, displayName)
    this.ops.push(() => {
      this.q.seen.run(userId, displayName, expires)
      // A claim outlives its user's known period by a TTL (store.ts), so both move together.
      this.q.keepClaim.run(expires + this.ttlMs, userId)
    })
    return this.after<void>(undefined)
  }

  partnerOf(userId: string): string | undefined {
    this.assertOpen()
    return this.queued.partners.get(userId) ?? this.q.partner.get(userId, this.now())?.partner
  }

  setPartner(userId: string, partnerId: string): void {
    this.assertOpen()
    const expires = this.now() + this.ttlMs
    this.queued.partners.set(userId, partnerId)
    this.ops.push(() => this.q.setPartner.run(userId, partnerId, expires))
    this.schedule()
  }

  known(userId: string): string | undefined {
    this.assertOpen()
    return this.queued.users.get(userId) ?? this.q.known.get(userId, this.now())?.display_name
  }

  claimHash(userId: string): string | undefined {
    this.assertOpen()
    return this.queued.claims.get(userId) ?? this.q.claim.get(userId, this.now())?.hash
  }

  setClaimHash(userId: string, hash: string): Promise<boolean> {
    this.assertOpen()
    // A claim queued this turn counts as there. The refusal waits for that claim's commit: if it
    // rolls back, this asker hears the failure instead of a refusal on the strength of nothing.
    if (this.claimHash(userId) !== undefined) return this.after(false)
    this.queued.claims.set(userId, hash)
    const expires = this.now() + 2 * this.ttlMs
    this.ops.push(() => this.q.setClaim.run(userId, hash, expires))
    return this.after(true)
  }

  async close(): Promise<void> {
    if (this.closed) return
    clearInterval(this.sweeper)
    this.flush()
    this.closed = true
    await this.checkpointer.stop()
    this.db.close()
  }

  /** The chat's row, from the cache or the table; an expired one is queued for deletion and is absent. */
  private chat(chatId: string): Chat | undefined {
    let chat = this.cache.get(chatId)
    if (!chat) {
      // A chat with writes queued is always cached (eviction happens only after a commit), so the table is current here.
      const stored = this.q.chatById.get(chatId)
      if (!stored) return undefined
      chat = { ...stored, trimmed: stored.first_seq, used: true, inTable: true }
      this.cache.set(chatId, chat)
    }
    chat.used = true
    if (chat.expires_at <= this.now()) {
      const id = chat.id
      this.cache.delete(chatId)
      this.dirty.delete(chat)
      this.forgetIds(chat)
      chat.marksQueued = undefined
      this.marked.delete(chat)
      this.ops.push(() => {
        this.q.dropMessages.run(id)
        this.q.dropMarks.run(id)
        this.q.dropChat.run(id)
      })
      this.schedule()
      return undefined
    }
    return chat
  }

  /** The chat's kept message ids, read from the table if this process has not held them since. */
  private idsOf(chat: Chat): ChatIds {
    if (chat.ids) return chat.ids
    const ids = newIds(chat.first_seq)
    // A chat written to this turn always has its ids (they go only with a clean chat), so the table is complete here.
    for (const r of this.q.keptIds.all(chat.id, chat.first_seq)) {
      ids.bySeq[r.seq - ids.base] = r.message_id
      idsFrom(ids, r.from_a).set(r.message_id, r.seq)
      if (r.from_a) ids.lastToB = r.seq
      else ids.lastToA = r.seq
    }
    this.idCount += ids.fromA.size + ids.fromB.size
    return (chat.ids = ids)
  }

  /** A new message's id; those trimmed below first_seq are forgotten (their ids are free again). */
  private remember(ids: ChatIds, sent: Map<string, number>, messageId: string, seq: number, firstSeq: number): void {
    if (ids.bySeq.length === 0 && ids.head === 0) ids.base = seq
    ids.bySeq.push(messageId)
    sent.set(messageId, seq)
    this.idCount++
    while (ids.base + ids.head < firstSeq && ids.head < ids.bySeq.length) {
      const old = ids.bySeq[ids.head++]
      if (old === undefined) continue
      // The trimmed seq is under its id in one sender's map (both senders may have used the id).
      const at = ids.base + ids.head - 1
      const from = ids.fromA.get(old) === at ? ids.fromA : ids.fromB.get(old) === at ? ids.fromB : undefined
      if (from) {
        from.delete(old)
        this.idCount--
      }
    }
    if (ids.head > 64 && ids.head * 2 > ids.bySeq.length) {
      ids.bySeq = ids.bySeq.slice(ids.head)
      ids.base += ids.head
      ids.head = 0
    }
  }

  /** The reader's delivered mark: read from the table once per cached chat, then kept with every raise. */
  private deliveredOf(chat: Chat, reader: string): number {
    const known = (chat.delivered ??= new Map())
    let mark = known.get(reader)
    if (mark === undefined) {
      // Queued marks hold this turn's raises, not the table's value under them: the higher of both.
      mark = Math.max(chat.marksQueued?.get(reader)?.delivered ?? 0, this.q.deliveredMark.get(chat.id, reader)?.delivered ?? 0)
      known.set(reader, mark)
    }
    return mark
  }

  /** Queue a participant's marks for the next commit, merged with any queued this turn (marks only move up). */
  private raise(chat: Chat, user: string, delivered: number, received: number): void {
    const known = chat.delivered?.get(user)
    if (known !== undefined && delivered > known) chat.delivered!.set(user, delivered)
    let queued = chat.marksQueued
    if (!queued) {
      queued = chat.marksQueued = new Map()
      this.marked.add(chat)
    }
    const m = queued.get(user)
    if (m) {
      m.delivered = Math.max(m.delivered, delivered)
      m.received = Math.max(m.received, received)
    } else {
      queued.set(user, { chat: chat.id, user, delivered, received })
    }
  }

  private forgetIds(chat: Chat): void {
    if (!chat.ids) return
    this.idCount -= chat.ids.fromA.size + chat.ids.fromB.size
    chat.ids = undefined
  }

  private marksOf(chat: Chat): MarkRow[] {
    return this.q.marks.all(chat.id)
  }

  private view(chat: ChatRow, r: MessageRow, marks: MarkRow[]): StoredMessage {
    const [from, to] = r.from_a ? [chat.user_a, chat.user_b] : [chat.user_b, chat.user_a]
    const mark = marks.find((m) => m.user === to)
    return { chat_id: chat.chat_id, from, to, content: r.content, message_id: r.message_id, timestamp: r.ts, seq: r.seq, status: statusOf(r.seq, mark?.delivered ?? 0, mark?.received ?? 0) }
  }

  /** A promise settled when the writes queued so far are committed. */
  private after<T>(value: T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: resolve as (v: never) => void, reject, value })
      this.schedule()
    })
  }

  private schedule(): void {
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined
      this.flush()
    })
  }

  /** Commit everything queued in one transaction, then settle its waiters. */
  private flush(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled)
      this.scheduled = undefined
    }
    if (this.rows.length === 0 && this.ops.length === 0 && this.dirty.size === 0 && this.waiters.length === 0 && this.marked.size === 0) return
    const { rows, ops, waiters, marked } = this
    const dirty = new Set(this.dirty)
    this.rows = []
    this.ops = []
    // Committed or rolled back, the table answers for them from now on.
    for (const byUser of Object.values(this.queued)) byUser.clear()
    this.waiters = []
    this.marked = new Set()
    this.dirty.clear()
    try {
      this.commit(rows, ops, dirty, marked)
      this.committed++
    } catch (err) {
      for (const chat of marked) chat.marksQueued = undefined
      // Rolled back: the cached seqs and ids ran ahead of the table, so forget them and read again.
      this.cache.clear()
      this.idCount = 0
      for (const w of waiters) w.reject(err)
      return
    }
    for (const chat of dirty) {
      chat.trimmed = chat.first_seq
      chat.inTable = true
    }
    for (const chat of marked) chat.marksQueued = undefined
    for (const w of waiters) w.resolve(w.value as never)
    // Past CACHE_MAX, second chance: a chat used since the last pass goes to the back unused, one not used leaves.
    if (this.cache.size > CACHE_MAX) {
      for (const [key, chat] of this.cache) {
        if (this.cache.size <= CACHE_MAX) break
        this.cache.delete(key)
        if (chat.used) {
          chat.used = false
          this.cache.set(key, chat)
        } else {
          this.forgetIds(chat)
        }
      }
    }
    // Then, past ID_BUDGET, the ids of the longest cached chats (all clean: everything queued was just committed).
    if (this.idCount > ID_BUDGET) {
      for (const chat of this.cache.values()) {
        if (this.idCount <= ID_BUDGET) break
        this.forgetIds(chat)
      }
    }
  }

  /**
   * On a timer: an error here would be uncaught and take the whole server down, so a sweep that
   * fails (the file locked by a backup or the sqlite3 shell, a full disk) is logged and tried
   * again at the next interval; what it would have deleted has expired already for every read.
   */
  private sweep(): void {
    if (this.closed) return
    this.flush()
    let gone: string[]
    try {
      gone = this.sweepTx(this.now())
    } catch (err) {
      this.log?.warn({ err }, 'history sweep failed; it runs again at the next interval')
      return
    }
    for (const chatId of gone) {
      const chat = this.cache.get(chatId)
      if (chat) this.forgetIds(chat)
      this.cache.delete(chatId)
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('history store is closed')
  }
}

/**
 * Files written before claims expired have a claims table without `expires_at`: the column is
 * added, and every claim in it kept for two TTLs from now, as if its user had just been seen.
 */
function migrateClaims(db: Database.Database, expires: number): void {
  const columns = db.pragma('table_info(claims)') as Array<{ name: string }>
  if (columns.length === 0 || columns.some((c) => c.name === 'expires_at')) return
  db.transaction(() => {
    db.exec(`ALTER TABLE claims ADD COLUMN expires_at INTEGER NOT NULL DEFAULT ${NEVER}`)
    db.prepare('UPDATE claims SET expires_at = ?').run(expires)
  })()
}

const row = (c: ChatRow): ChatRow => ({
  id: c.id,
  chat_id: c.chat_id,
  user_a: c.user_a,
  user_b: c.user_b,
  epoch: c.epoch,
  first_seq: c.first_seq,
  last_seq: c.last_seq,
  last_at: c.last_at,
  expires_at: c.expires_at
})
