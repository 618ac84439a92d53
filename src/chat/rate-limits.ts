// Per-user rate limits for FastChat (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN), keyed by user id
// so that reconnecting or opening more tabs does not reset them. Across instances the limiters
// are rate-limiter-flexible's RateLimiterRedis (with its in-memory insurance while Redis is
// away); in one process they are WindowCounters, which answer synchronously. Both count in
// fixed 60 s windows that start at a user's first message, so a limit means the same either way.
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import type { Awaitable } from '../lib/awaitable.ts'

export type LimitKind = 'msg' | 'typing'

export type Limiter = RateLimiterAbstract | WindowCounter

export class RateLimits {
  constructor(private readonly limiters: { readonly [K in LimitKind]: Limiter }) {}

  /** Count one action: 0 when allowed, else the milliseconds until the next one would be. */
  consume(kind: LimitKind, userId: string): Awaitable<number> {
    const limiter = this.limiters[kind]
    if (limiter instanceof WindowCounter) return limiter.consume(userId)
    return limiter.consume(userId).then(() => 0, (res: unknown) => {
      if (res instanceof RateLimiterRes) return Math.max(1, res.msBeforeNext)
      throw res
    })
  }
}

/**
 * Points per key in fixed windows, in process and synchronous: the same windows as
 * rate-limiter-flexible's RateLimiterMemory (a key's window opens at its first point and lasts
 * `durationMs`), which answers through a promise and keeps a timer per key; this one is on the
 * hot path of every chat message. Closed windows are dropped in passing, at most once a second.
 */
export class WindowCounter {
  /** key → its open window; Map order is the order windows opened, so closed ones come first. */
  private readonly windows = new Map<string, { opened: number; used: number }>()
  private sweepAt = 0

  constructor(
    readonly points: number,
    readonly durationMs: number,
    private readonly now: () => number = Date.now
  ) {}

  /** Count one point: 0 when allowed, else the milliseconds until the window closes. */
  consume(key: string): number {
    const now = this.now()
    if (now >= this.sweepAt) this.sweep(now)
    let w = this.windows.get(key)
    if (w === undefined || now - w.opened >= this.durationMs) {
      this.windows.delete(key) // re-inserted: to the end, in opening order
      this.windows.set(key, (w = { opened: now, used: 0 }))
    }
    w.used++
    return w.used > this.points ? Math.max(1, w.opened + this.durationMs - now) : 0
  }

  get size(): number {
    return this.windows.size
  }

  private sweep(now: number): void {
    this.sweepAt = now + 1000
    for (const [key, w] of this.windows) {
      if (now - w.opened < this.durationMs) return
      this.windows.delete(key)
    }
  }
}
