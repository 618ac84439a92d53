// The rules every history store applies the same way: a message's status from its recipient's
// marks, a page's window, the page size bounds, a chat's activity time. One place, so the
// stores cannot drift (test/history/contract.ts holds them to it).
import type { MessageStatus } from './store.ts'

/** The last timestamp parsed, and its time: under load most messages of a millisecond share one. */
let lastTimestamp = ''
let lastTime = NaN

/** A chat's last_at is its last message's acceptance time; the clock stands in for one that does not parse. */
export function messageTime(timestamp: string, now: () => number): number {
  // Date.parse per stored message showed in the relay's profile; the same string parses the same.
  if (timestamp !== lastTimestamp) {
    lastTime = Date.parse(timestamp)
    lastTimestamp = timestamp
  }
  return Number.isFinite(lastTime) ? lastTime : now()
}

/** Status from the recipient's marks (store.ts): received, else delivered, else stored. */
export function statusOf(seq: number, delivered: number, received: number): MessageStatus {
  return seq <= received ? 'received' : seq <= delivered ? 'delivered' : 'stored'
}

/** PageQuery.limit is 1–100; a caller's slip must not turn a page into a dump of the log. */
export const clampLimit = (limit: number): number => Math.min(100, Math.max(1, Math.floor(limit) || 1))

/**
 * The seqs [from, to] a page holds, within what is kept (firstSeq..lastSeq) and strictly
 * between after_seq and before_seq: the oldest `limit` when paging forward (after_seq), else
 * the newest; hasMore says whether kept messages lie beyond it in that direction.
 */
export function pageWindow(firstSeq: number, lastSeq: number, beforeSeq: number | undefined, afterSeq: number | undefined, limit: number): { from: number; to: number; hasMore: boolean } {
  const lo = Math.max(firstSeq, (afterSeq ?? 0) + 1)
  const hi = Math.min(lastSeq, (beforeSeq ?? Infinity) - 1)
  if (lo > hi) return { from: lo, to: lo - 1, hasMore: false }
  if (afterSeq !== undefined) {
    const to = Math.min(hi, lo + limit - 1)
    return { from: lo, to, hasMore: to < hi }
  }
  const from = Math.max(lo, hi - limit + 1)
  return { from, to: hi, hasMore: from > lo }
}
