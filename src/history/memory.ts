// The history store in process memory: the reference semantics of the contract
// (test/history/contract.ts), used by tests and HISTORY_STORE=memory. Every answer is a plain
// value, never a promise, because the chat relay's hot path stays synchronous over memory.
// Nothing survives a restart; expiry is checked on access, and a sweep on an unref'd timer
// drops logs and users nobody asks about so memory stays bounded by what is live.
import { randomBytes } from 'node:crypto'
import { clampLimit, messageTime, pageWindow, statusOf } from './rules.ts'
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

interface Entry extends NewMessage {
  seq: number
}

interface Log {
  chat_id: string
  epoch: string
  /** The two participants, as the first message named them. */
  users: [string, string]
  /**
   * Messages oldest first, seq contiguous; the kept ones start at `head` (entries[head + i].seq
   * = first_seq + i). Trimming moves `head` and compacts now and then: a splice per message
   * would copy the whole log each time once it is full.
   */
  entries: Entry[]
  head: number
  last_seq: number
  last_at: number
  expires_at: number
  /** `${from}\0${message_id}` → entry, for dedupe and receipts. */
  byId: Map<string, Entry>
  delivered: Map<string, number>
  received: Map<string, number>
  /** Each recipient's newest message seq: the next one's previousTo. */
  lastTo: Map<string, number>
}

interface User {
  displayName: string
  expiresAt: number
}

const idKey = (from: string, messageId: string) => `${from}\0${messageId}`

export class MemoryHistory implements HistoryStore {
  readonly kind = 'memory' as const
  private readonly logs = new Map<string, Log>()
  /** user → ids of the chats they take part in (possibly expired, dropped when seen). */
  private readonly chatsByUser = new Map<string, Set<string>>()
  private readonly users = new Map<string, User>()
  /** Kept two TTLs after the user was last seen (or claimed): past the last log they could be in (store.ts), and no longer. */
  private readonly claims = new Map<string, { hash: string; expiresAt: number }>()
  /** Flat users' current partners (store.ts, partnerOf). */
  private readonly partners = new Map<string, { partner: string; expiresAt: number }>()
  private readonly ttlMs: number
  private readonly sweeper: NodeJS.Timeout

  constructor(
    private readonly limits: HistoryLimits,
    private readonly now: () => number = Date.now
  ) {
    this.ttlMs = limits.ttlS * 1000
    // Often enough that an idle store drops its dead logs within about a TTL, rarely enough to be free.
    this.sweeper = setInterval(() => this.sweep(), Math.min(Math.max(this.ttlMs, 1000), 60_000))
    this.sweeper.unref()
  }

  append(msg: NewMessage): Appended {
    let log = this.live(msg.chat_id)
    if (!log) {
      log = {
        chat_id: msg.chat_id,
        epoch: randomBytes(6).toString('base64url'),
        users: [msg.from, msg.to],
        entries: [],
        head: 0,
        last_seq: 0,
        last_at: 0,
        expires_at: 0,
        byId: new Map(),
        delivered: new Map(),
        received: new Map(),
        lastTo: new Map()
      }
      this.logs.set(msg.chat_id, log)
      for (const u of log.users) this.userChats(u).add(msg.chat_id)
    }
    const key = idKey(msg.from, msg.message_id)
    const existing = log.byId.get(key)
    if (existing) return { message: this.view(log, existing), epoch: log.epoch, duplicate: true, previousTo: 0 }

    const entry: Entry = { chat_id: msg.chat_id, from: msg.from, to: msg.to, content: msg.content, message_id: msg.message_id, timestamp: msg.timestamp, seq: log.last_seq + 1 }
    log.entries.push(entry)
    log.byId.set(key, entry)
    const previousTo = log.lastTo.get(msg.to) ?? 0
    log.lastTo.set(msg.to, entry.seq)
    log.last_seq = entry.seq
    log.last_at = messageTime(msg.timestamp, this.now)
    log.expires_at = this.now() + this.ttlMs
    while (log.entries.length - log.head > this.limits.maxPerChat) {
      const old = log.entries[log.head++]!
      log.byId.delete(idKey(old.from, old.message_id))
    }
    if (log.head > 64 && log.head * 2 > log.entries.length) {
      log.entries = log.entries.slice(log.head)
      log.head = 0
    }
    return { message: this.view(log, entry), epoch: log.epoch, duplicate: false, previousTo }
  }

  markDelivered(chatId: string, reader: string, seq: number, after = 0): void {
    this.raiseDelivered(chatId, reader, seq, after)
  }

  /** With `after` (markDelivered's), the mark moves only once it has reached it. */
  raiseDelivered(chatId: string, reader: string, seq: number, after = 0): number {
    const log = this.live(chatId)
    if (!log || !log.users.includes(reader)) return seq
    const before = log.delivered.get(reader) ?? 0
    if (before >= after) raise(log.delivered, reader, Math.min(seq, log.last_seq))
    return before
  }

  markReceived(chatId: string, reader: string, from: string, messageId: string): Receipt | undefined {
    const log = this.live(chatId)
    const entry = log?.byId.get(idKey(from, messageId))
    if (!log || !entry || entry.to !== reader) return undefined
    raise(log.received, reader, entry.seq)
    raise(log.delivered, reader, entry.seq)
    return { chat_id: chatId, from, to: reader, message_id: messageId, seq: entry.seq }
  }

  page(chatId: string, query: PageQuery): Page | undefined {
    const log = this.live(chatId)
    if (!log) return undefined
    const firstSeq = log.last_seq - (log.entries.length - log.head) + 1
    const w = pageWindow(firstSeq, log.last_seq, query.before_seq, query.after_seq, clampLimit(query.limit))
    const messages = w.from > w.to ? [] : log.entries.slice(log.head + w.from - firstSeq, log.head + w.to - firstSeq + 1).map((e) => this.view(log, e))
    return { chat_id: chatId, epoch: log.epoch, first_seq: firstSeq, last_seq: log.last_seq, messages, has_more: w.hasMore }
  }

  chatsOf(userId: string, limit: number): ChatSummary[] {
    return this.logsOf(userId)
      .sort((x, y) => y.last_at - x.last_at || (x.chat_id < y.chat_id ? -1 : 1))
      .slice(0, Math.max(0, limit))
      .map((log) => {
        const mark = log.received.get(userId) ?? 0
        let unread = 0
        for (let i = log.entries.length - 1; i >= log.head && log.entries[i]!.seq > mark; i--) if (log.entries[i]!.to === userId) unread++
        return { chat_id: log.chat_id, target_user_id: other(log, userId), epoch: log.epoch, last_seq: log.last_seq, unread, last_at: log.last_at }
      })
  }

  backlog(userId: string): Backlog[] {
    const out: Array<Backlog & { last_at: number }> = []
    for (const log of this.logsOf(userId)) {
      const mark = log.delivered.get(userId) ?? 0
      const pending: StoredMessage[] = []
      for (let i = log.entries.length - 1; i >= log.head && log.entries[i]!.seq > mark; i--) {
        const e = log.entries[i]!
        if (e.to === userId) pending.push(this.view(log, e))
      }
      if (pending.length > 0) {
        out.push({ chat_id: log.chat_id, target_user_id: other(log, userId), epoch: log.epoch, last_seq: log.last_seq, messages: pending.reverse(), last_at: log.last_at })
      }
    }
    out.sort((x, y) => x.last_at - y.last_at || (x.chat_id < y.chat_id ? -1 : 1))
    return out.map(({ last_at: _, ...b }) => b)
  }

  seen(userId: string, displayName: string): void {
    const expiresAt = this.now() + this.ttlMs
    this.users.set(userId, { displayName, expiresAt })
    const claim = this.unexpired(this.claims, userId)
    if (claim) claim.expiresAt = Math.max(claim.expiresAt, expiresAt + this.ttlMs)
  }

  known(userId: string): string | undefined {
    return this.unexpired(this.users, userId)?.displayName
  }

  claimHash(userId: string): string | undefined {
    return this.unexpired(this.claims, userId)?.hash
  }

  setClaimHash(userId: string, hash: string): boolean {
    if (this.unexpired(this.claims, userId)) return false
    this.claims.set(userId, { hash, expiresAt: this.now() + 2 * this.ttlMs })
    return true
  }

  partnerOf(userId: string): string | undefined {
    return this.unexpired(this.partners, userId)?.partner
  }

  /** `map`'s entry for `key` unless it expired (then it is dropped). */
  private unexpired<V extends { expiresAt: number }>(map: Map<string, V>, key: string): V | undefined {
    const entry = map.get(key)
    if (entry && entry.expiresAt <= this.now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }

  setPartner(userId: string, partnerId: string): void {
    this.partners.set(userId, { partner: partnerId, expiresAt: this.now() + this.ttlMs })
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
  }

  /** The chat's log unless it expired (then it is dropped). */
  private live(chatId: string): Log | undefined {
    const log = this.logs.get(chatId)
    if (log && log.expires_at <= this.now()) {
      this.drop(log)
      return undefined
    }
    return log
  }

  private logsOf(userId: string): Log[] {
    const ids = this.chatsByUser.get(userId)
    if (!ids) return []
    const logs: Log[] = []
    for (const id of ids) {
      const log = this.live(id)
      if (log) logs.push(log)
    }
    return logs
  }

  private userChats(userId: string): Set<string> {
    let set = this.chatsByUser.get(userId)
    if (!set) this.chatsByUser.set(userId, (set = new Set()))
    return set
  }

  private drop(log: Log): void {
    this.logs.delete(log.chat_id)
    for (const u of log.users) {
      const set = this.chatsByUser.get(u)
      set?.delete(log.chat_id)
      if (set?.size === 0) this.chatsByUser.delete(u)
    }
  }

  private sweep(): void {
    const now = this.now()
    for (const log of this.logs.values()) if (log.expires_at <= now) this.drop(log)
    for (const [id, user] of this.users) if (user.expiresAt <= now) this.users.delete(id)
    for (const [id, p] of this.partners) if (p.expiresAt <= now) this.partners.delete(id)
    for (const [id, c] of this.claims) if (c.expiresAt <= now) this.claims.delete(id)
  }

  private view(log: Log, e: Entry): StoredMessage {
    const status = statusOf(e.seq, log.delivered.get(e.to) ?? 0, log.received.get(e.to) ?? 0)
    return { chat_id: e.chat_id, from: e.from, to: e.to, content: e.content, message_id: e.message_id, timestamp: e.timestamp, seq: e.seq, status }
  }
}

function raise(marks: Map<string, number>, user: string, seq: number): void {
  if (seq > (marks.get(user) ?? 0)) marks.set(user, seq)
}

const other = (log: Log, userId: string) => (log.users[0] === userId ? log.users[1] : log.users[0])
