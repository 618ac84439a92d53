// The admin console's view of this instance's chat users: each online user's connections
// (surface, since when, dialect) and open chats, and the operator's action that closes a user's
// connections with a stated close code. Read from the chat hub (src/chat/hub.ts) and the
// connection registry; nothing here is kept between snapshots.
import type { LocalHub } from '../chat/hub.ts'
import type { ChatSession } from '../chat/session.ts'
import { chatId } from '../chat/chats.ts'
import type { Conn, Surface } from '../transport/connections.ts'

export interface AdminConnection {
  id: string
  surface: Surface
  /** Epoch ms the socket opened. */
  since: number
  /** SPEC section 10: `flat` for the FastChat app's dialect, `enveloped` otherwise. */
  dialect: 'enveloped' | 'flat'
  /** Asked for the history capability (SPEC section 9). */
  history: boolean
}

export interface AdminChat {
  chat_id: string
  with: string
  /** The partner's display name while they are online anywhere in the service. */
  with_name: string | undefined
  with_online: boolean
}

export interface AdminUser {
  user_id: string
  display_name: string
  connections: AdminConnection[]
  chats: AdminChat[]
}

export interface UserList {
  /** Users with a connection on this instance (all of them, not only those listed). */
  local: number
  /** Users online service-wide. */
  online: number
  /** Up to `limit` users matching the filter, newest connection first. */
  users: AdminUser[]
  /** How many matched the filter. */
  matched: number
  /** Distinct open chats among the listed users. */
  open_chats: number
  /**
   * Some listed user's chats are not this second's: the chat store (Redis) did not answer in
   * time, so they are the last ones it gave (none if it never did).
   */
  chats_stale: boolean
}

export interface UserSources {
  hub: LocalHub
  connections(): Iterable<Conn>
  onlineCount(): number
  displayName(userId: string): string | undefined
  isOnline(userId: string): boolean
  /** The user's open chats' other sides (the backplane's chat store). */
  partners(userId: string): Promise<string[]>
}

/** Users a snapshot lists at most: the console is for looking, a filter narrows the rest. */
export const LIST_LIMIT = 100

/** A user's open chats' other sides; not `fresh` when they are the last known ones (or none). */
export type PartnerLookup = (userId: string) => Promise<{ partners: string[]; fresh: boolean }>

/** The chat store asked directly, as long as it takes. */
const askStore = (src: UserSources): PartnerLookup => async (userId) => {
  try {
    return { partners: await src.partners(userId), fresh: true }
  } catch {
    return { partners: [], fresh: false } // the store does not answer (Redis away): listed without chats
  }
}

export async function listUsers(src: UserSources, filter = '', partnersOf: PartnerLookup = askStore(src), limit = LIST_LIMIT): Promise<UserList> {
  const opened = new Map<string, Conn>()
  for (const conn of src.connections()) opened.set(conn.id, conn)
  const needle = filter.trim().toLowerCase()
  const matched: AdminUser[] = []
  let local = 0
  for (const sessions of src.hub.perUser()) {
    local++
    let user: AdminUser | undefined
    for (const s of sessions) {
      if (s.closed || !s.user) continue
      if (!user) {
        const { user_id, display_name } = s.user
        if (needle && !user_id.toLowerCase().includes(needle) && !display_name.toLowerCase().includes(needle)) break
        user = { user_id, display_name, connections: [], chats: [] }
      }
      const conn = opened.get(s.peer.id)
      user.connections.push({
        id: s.peer.id,
        surface: conn?.surface ?? 'main',
        since: conn?.openedAt ?? 0,
        dialect: s.flat ? 'flat' : 'enveloped',
        history: s.history
      })
    }
    if (user) matched.push(user)
  }
  const newest = (u: AdminUser) => Math.max(...u.connections.map((c) => c.since))
  const users = matched.sort((a, b) => newest(b) - newest(a)).slice(0, limit)
  const chats = new Set<string>()
  let stale = false
  await Promise.all(users.map(async (user) => {
    const { partners, fresh } = await partnersOf(user.user_id)
    if (!fresh) stale = true
    user.chats = [...partners].sort().map((other) => {
      const id = chatId(user.user_id, other)
      chats.add(id)
      return { chat_id: id, with: other, with_name: src.displayName(other), with_online: src.isOnline(other) }
    })
  }))
  return { local, online: src.onlineCount(), users, matched: matched.length, open_chats: chats.size, chats_stale: stale }
}

/**
 * Close codes an operator may state: the standard ones a server sends for a reason an operator
 * has (1000 normal, 1001 going away, 1008 policy, 1011 error, 1012 restart, 1013 try again
 * later) and the application range 4000–4999.
 */
export function validCloseCode(code: number): boolean {
  return Number.isInteger(code) && ([1000, 1001, 1008, 1011, 1012, 1013].includes(code) || (code >= 4000 && code <= 4999))
}

/** A close reason may be 123 bytes of UTF-8 at most (RFC 6455 section 5.5). */
export const MAX_REASON_BYTES = 123

export const DEFAULT_CLOSE = { code: 1008, reason: 'disconnected by an operator' } as const

/**
 * Close every connection of `userId` on this instance with `code` and `reason`; how many.
 * Users on other instances are closed by the console of their own instance.
 */
export function disconnectUser(hub: LocalHub, userId: string, code: number, reason: string): number {
  let closed = 0
  // A copy: each close removes its session from the hub as it completes.
  for (const s of [...hub.sessionsOf(userId)]) {
    // Closing already (its close handshake under way): not closed, nor counted, a second time.
    if (s.closed || closing.has(s)) continue
    closing.add(s)
    s.peer.close(code, reason)
    closed++
  }
  return closed
}

/** Sessions a disconnect asked to close, until their socket has (weakly held: no cleanup needed). */
const closing = new WeakSet<ChatSession>()
