// A Map whose entries expire, with a hard cap on size, for state that must be remembered for a
// while but never grow without bound (dedupe of message ids, where to send a read receipt).
// Expired entries are swept from the oldest end on every write; past the cap the oldest go first.
// The sweep keeps its place in the Map between writes: a Map iterated from its start again and
// again walks over the slots its deleted oldest entries left, which made every write O(n).

interface Entry<V> {
  value: V
  expiresAt: number
}

export class TtlMap<K, V> {
  private readonly entries = new Map<K, Entry<V>>()
  /** Where the last sweep stopped: an iterator over `entries`, and the entry it stopped at. */
  private cursor: Iterator<[K, Entry<V>]> | undefined
  private oldest: [K, Entry<V>] | undefined

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now
  ) {}

  get(key: K): V | undefined {
    const e = this.entries.get(key)
    if (!e) return undefined
    if (e.expiresAt <= this.now()) {
      this.remove(key)
      return undefined
    }
    return e.value
  }

  has(key: K): boolean {
    return this.get(key) !== undefined
  }

  set(key: K, value: V, ttlMs: number): void {
    const entry = { value, expiresAt: this.now() + ttlMs }
    const size = this.entries.size
    this.entries.set(key, entry)
    if (this.entries.size === size) {
      // It was there, and Map.set keeps a key's place: re-inserted, it moves to the young end,
      // so Map order stays roughly expiry order.
      this.remove(key)
      this.entries.set(key, entry)
    }
    this.sweep()
  }

  /** Set only when absent (or expired); true when this call set it. */
  setIfAbsent(key: K, value: V, ttlMs: number): boolean {
    if (this.has(key)) return false
    // Absent now (has() dropped it if it had expired): no older entry to move out of the way.
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs })
    this.sweep()
    return true
  }

  delete(key: K): boolean {
    return this.remove(key)
  }

  /** Get and delete in one step. */
  take(key: K): V | undefined {
    const v = this.get(key)
    if (v !== undefined) this.remove(key)
    return v
  }

  get size(): number {
    return this.entries.size
  }

  /** Every removal goes through here, so the entry the sweep stopped at is never stale. */
  private remove(key: K): boolean {
    if (this.oldest && sameKey(this.oldest[0], key)) this.oldest = undefined
    return this.entries.delete(key)
  }

  private sweep(): void {
    const now = this.now()
    for (;;) {
      if (!this.oldest) {
        // A Map iterator stays valid while the Map changes: it skips what was deleted and
        // yields what was added later.
        this.cursor ??= this.entries.entries()
        const next = this.cursor.next()
        if (next.done) {
          this.cursor = undefined // a finished iterator stays finished; start afresh next time
          return
        }
        this.oldest = next.value
      }
      const [key, e] = this.oldest
      if (e.expiresAt > now && this.entries.size <= this.maxEntries) return
      this.remove(key)
    }
  }
}

/** Map's key equality (SameValueZero). */
function sameKey(a: unknown, b: unknown): boolean {
  return a === b || (a !== a && b !== b)
}
