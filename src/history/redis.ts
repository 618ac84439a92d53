// The history store shared by every instance (HISTORY_STORE=redis, the default with REDIS_URL):
// one Redis Stream per chat, seq and dedupe assigned inside one Lua script so all instances
// write one gap-free log (src/history/redis-scripts.ts; key layout in docs/redis.md).
//
// Durability is "the server acknowledged the write": append resolves when Redis replied to the
// script, and the service acks the client only after that. What survives a crash of Redis then
// depends on its persistence, which this code cannot see: with `appendonly yes` and
// `appendfsync everysec` up to about a second of acknowledged messages can be lost on power loss
// (the AOF is written before the reply but fsynced once a second); without AOF every log is lost
// when Redis restarts, and the next append starts the chat again under a new epoch.
//
// It keeps its own connection, with the backplane's fail-fast options: while Redis is away every
// call rejects at once instead of queueing, so the service answers with an error rather than
// hanging. A timed-out append may still have been written; the client's retry with the same
// message_id then finds it through the dedupe hash and gets the original seq.
import { unawaited, within } from '../lib/awaitable.ts'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { failFastOptions, type BackplaneLog } from '../backplane/redis-link.ts'
import { statusOf } from './rules.ts'
import { defineHistoryScripts, HistoryKeys, type RawEntry } from './redis-scripts.ts'
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

export interface RedisHistoryOptions {
  url: string
  limits: HistoryLimits
  log: BackplaneLog
  /** A command with no reply after this long fails (a hung or partitioned Redis). */
  commandTimeoutMs?: number
  /** How long connect() waits for a first answer before returning the store unconnected (2000). */
  connectWaitMs?: number
}


function toMessage(chatId: string, [id, flat]: RawEntry, delivered: number, received: number): StoredMessage {
  const f: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) f[String(flat[i])] = String(flat[i + 1])
  const seq = Number.parseInt(id, 10)
  return {
    chat_id: chatId,
    from: f.f ?? '',
    to: f.t ?? '',
    content: f.c ?? '',
    message_id: f.m ?? '',
    timestamp: f.ts ?? '',
    seq,
    status: statusOf(seq, delivered, received)
  }
}

function hash(flat: string[]): Record<string, string> {
  const h: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!
  return h
}

export class RedisHistory implements HistoryStore {
  readonly kind = 'redis' as const
  private readonly limits: HistoryLimits

  private constructor(
    private readonly conn: Redis,
    limits: HistoryLimits,
    private readonly state: { closing: boolean }
  ) {
    this.limits = { ...limits }
  }

  /**
   * Connected when Redis answers within a moment; else the store is returned anyway and ioredis
   * keeps trying, as the backplane does: a process started during an outage serves its own
   * users (history calls fail at once, so MSG is MESSAGE_FAILED, never a false ack) instead of
   * exiting, which under `restart: unless-stopped` was a crash loop until Redis came back.
   */
  static async connect(opts: RedisHistoryOptions): Promise<RedisHistory> {
    const conn = new Redis(opts.url, { ...failFastOptions(opts.commandTimeoutMs), connectionName: 'switchboard-history' })
    // Every failed reconnect emits an error; callers see the failed commands themselves.
    conn.on('error', (err: Error) => opts.log.debug({ err }, 'history redis connection error'))
    // An outage is worth one warning and one line when it ends, not one per failed command.
    const state = { closing: false }
    let wasUp = false
    let up = false
    conn.on('ready', () => {
      if (wasUp) opts.log.info({}, 'history redis is back')
      wasUp = up = true
    })
    // Emitted again by every failed reconnect: only the first after being up is news.
    conn.on('close', () => {
      if (up && !state.closing) opts.log.warn({}, 'history redis connection lost; reconnecting')
      up = false
    })
    defineHistoryScripts(conn)
    // Failures are reported through 'error' and retried by ioredis itself.
    const connected = await within(conn.connect().then(() => true, () => false), opts.connectWaitMs ?? 2000)
    if (connected !== true) opts.log.warn({}, 'history redis does not answer; history calls fail until it does (retrying)')
    return new RedisHistory(conn, opts.limits, state)
  }

  async append(msg: NewMessage): Promise<Appended> {
    const at = Date.parse(msg.timestamp)
    const [dup, epoch, entry, delivered, received, previousTo] = await this.conn.sbhAppend(
      msg.chat_id,
      msg.from,
      msg.to,
      msg.content,
      msg.message_id,
      msg.timestamp,
      Number.isFinite(at) ? at : Date.now(),
      // Used only when this append creates the log.
      randomBytes(6).toString('base64url'),
      this.limits.maxPerChat,
      this.limits.ttlS
    )
    return { message: toMessage(msg.chat_id, entry, delivered, received), epoch, duplicate: dup === 1, previousTo }
  }

  async markDelivered(chatId: string, reader: string, seq: number, after = 0): Promise<void> {
    await this.raise(chatId, reader, seq, after)
  }

  async raiseDelivered(chatId: string, reader: string, seq: number): Promise<number> {
    return await this.raise(chatId, reader, seq, 0)
  }

  private async raise(chatId: string, reader: string, seq: number, after: number): Promise<number> {
    // A NaN would be stored as the mark and compare false ever after.
    if (!Number.isFinite(seq)) return seq
    return await this.conn.sbhDelivered(chatId, reader, Math.floor(seq), Number.isFinite(after) ? after : 0)
  }

  async markReceived(chatId: string, reader: string, from: string, messageId: string): Promise<Receipt | undefined> {
    const r = await this.conn.sbhReceived(chatId, reader, from, messageId)
    if (r.length === 0) return undefined
    // The script matched the entry's sender, recipient and id to these: its seq is what it adds.
    return { chat_id: chatId, from, to: reader, message_id: messageId, seq: Number.parseInt(r[0][0], 10) }
  }

  async page(chatId: string, query: PageQuery): Promise<Page | undefined> {
    const limit = Math.max(1, Math.floor(query.limit))
    // Whole seqs only: the script turns them into stream ids.
    const before = query.before_seq === undefined ? '' : Math.ceil(query.before_seq)
    const after = query.after_seq === undefined ? '' : Math.floor(query.after_seq)
    const r = await this.conn.sbhPage(chatId, before, after, limit)
    if (r.length === 0) return undefined
    const [flat, firstSeq, entries, more] = r
    const meta = hash(flat)
    const mark = (kind: 'dv' | 'rc', user: string) => Number(meta[`${kind}:${user}`] ?? 0)
    const messages = entries.map((e) => {
      const m = toMessage(chatId, e, 0, 0)
      m.status = statusOf(m.seq, mark('dv', m.to), mark('rc', m.to))
      return m
    })
    return {
      chat_id: chatId,
      epoch: meta.epoch ?? '',
      first_seq: Number(firstSeq),
      last_seq: Number(meta.last_seq ?? 0),
      messages,
      has_more: more === 1
    }
  }

  async chatsOf(userId: string, limit: number): Promise<ChatSummary[]> {
    if (limit < 1) return []
    const flat = await this.conn.sbhChats(userId, Math.floor(limit))
    const out: ChatSummary[] = []
    for (let i = 0; i + 5 < flat.length; i += 6) {
      out.push({
        chat_id: String(flat[i]),
        target_user_id: String(flat[i + 1]),
        epoch: String(flat[i + 2]),
        last_seq: Number(flat[i + 3]),
        unread: Number(flat[i + 4]),
        last_at: Number(flat[i + 5])
      })
    }
    return out
  }

  async backlog(userId: string): Promise<Backlog[]> {
    const chats = await this.conn.sbhBacklog(userId)
    return chats.map(([chatId, other, epoch, lastSeq, delivered, received, entries]) => ({
      chat_id: chatId,
      target_user_id: other,
      epoch,
      last_seq: Number(lastSeq),
      messages: entries.map((e) => toMessage(chatId, e, delivered, received))
    }))
  }

  async seen(userId: string, displayName: string): Promise<void> {
    await this.conn.sbhSeen(userId, displayName, this.limits.ttlS, Date.now())
  }

  async known(userId: string): Promise<string | undefined> {
    const [name, seen] = await this.conn.hmget(HistoryKeys.user(userId), 'name', 'seen')
    return name !== null && seen !== null && Date.now() - Number(seen) < this.limits.ttlS * 1000 ? name : undefined
  }

  async partnerOf(userId: string): Promise<string | undefined> {
    return (await this.conn.get(HistoryKeys.partner(userId))) ?? undefined
  }

  setPartner(userId: string, partnerId: string): void {
    unawaited(this.conn.set(HistoryKeys.partner(userId), partnerId, 'EX', this.limits.ttlS))
  }

  async claimHash(userId: string): Promise<string | undefined> {
    return (await this.conn.hget(HistoryKeys.user(userId), 'claim')) ?? undefined
  }

  async setClaimHash(userId: string, hash: string): Promise<boolean> {
    return (await this.conn.sbhClaim(userId, hash, this.limits.ttlS)) === 1
  }

  /** QUIT lets replies in flight arrive; a connection that is down is just stopped. */
  async close(): Promise<void> {
    this.state.closing = true
    if (this.conn.status !== 'ready') {
      this.conn.disconnect()
      return
    }
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.conn.quit(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('quit timed out')), 1000)))
      ])
    } catch {
      this.conn.disconnect()
    } finally {
      clearTimeout(timer)
    }
  }
}
