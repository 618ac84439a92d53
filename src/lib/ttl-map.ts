// A Map whose entries expire, with a hard cap on size, for state that must be remembered for a
// while but never grow without bound (dedupe of message ids, where to send a read receipt).
// Expired entries are swept from the oldest end on every write; past the cap the oldest go first.

interface Entry<V> {
  value: V
  expiresAt: number
}

export class TtlMap<K, V> {
  private readonly entries = new Map<K, Entry<V>>()

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now
  ) {}

  get(key: K): V | undefined {
    const e = this.entries.get(key)
    if (!e) return undefined
    if (e.expiresAt <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return e.value
  }

  has(key: K): boolean {
    return this.get(key) !== undefined
  }

  set(key: K, value: V, ttlMs: number): void {
    // Re-inserting moves the key to the young end, so Map order stays roughly expiry order.
    this.entries.delete(key)
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs })
    this.sweep()
  }

  /** Set only when absent (or expired); true when this call set it. */
  setIfAbsent(key: K, value: V, ttlMs: number): boolean {
    if (this.has(key)) return false
    this.set(key, value, ttlMs)
    return true
  }

  delete(key: K): boolean {
    return this.entries.delete(key)
  }

  /** Get and delete in one step. */
  take(key: K): V | undefined {
    const v = this.get(key)
    if (v !== undefined) this.entries.delete(key)
    return v
  }

  get size(): number {
    return this.entries.size
  }

  private sweep(): void {
    const now = this.now()
    for (const [key, e] of this.entries) {
      if (e.expiresAt > now && this.entries.size <= this.maxEntries) break
      this.entries.delete(key)
    }
  }
}
