// The in-process rate limiter behind the memory backplane (Backplane.limiter): points per key in
// fixed windows, answered synchronously because it sits on the hot path of every chat message.

/**
 * Points per key in fixed windows, in process and synchronous: the same windows as
 * rate-limiter-flexible's RateLimiterMemory (a key's window opens at its first point and lasts
 * `durationMs`), which answers through a promise and keeps a timer per key. Closed windows are
 * dropped in passing, at most once a second.
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
