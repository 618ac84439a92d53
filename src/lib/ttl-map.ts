// An expiring map with a hard cap on size (message-id dedupe, read-receipt routes), keyed by
// (space, owner, id). Shaped by the relay's hot path (docs/bench.md, "Why the hot paths…").

/**
 * A full ring evicts its oldest entry on write; expired entries are swept from the oldest end
 * on every write, and get() never returns one. Re-setting a key moves it to the young end (its
 * old slot stays empty until the sweep passes it).
 */
export class TtlMap<V> {
  /** id → the youngest slot holding it; older slots with the same id follow through `next`. */
  private readonly index = new Map<string, number>()
  private count = 0
  // Made on the first write: an instance that never stores anything costs nothing.
  private owners: (string | undefined)[] = []
  private ids: string[] = []
  private values: (V | undefined)[] = []
  private expires: Float64Array | undefined
  /** Each slot's space (0–255). */
  private spaces: Uint8Array | undefined
  /** The next older slot with the same id, or -1. */
  private next: Int32Array | undefined
  /** Ring positions as ever-growing counters; the slot is the counter modulo the capacity. */
  private head = 0
  private tail = 0

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now
  ) {
    if (!(maxEntries >= 1)) throw new RangeError('TtlMap needs room for at least one entry')
  }

  get(owner: string, id: string, space = 0): V | undefined {
    const slot = this.find(owner, id, space)
    if (slot < 0) return undefined
    if (this.expires![slot]! <= this.now()) {
      this.clear(slot)
      return undefined
    }
    return this.values[slot]
  }

  has(owner: string, id: string, space = 0): boolean {
    return this.get(owner, id, space) !== undefined
  }

  set(owner: string, id: string, value: V, ttlMs: number, space = 0): void {
    const old = this.find(owner, id, space)
    if (old >= 0) this.clear(old)
    this.append(owner, id, value, ttlMs, space)
  }

  /** Set only when absent (or expired); true when this call set it. */
  setIfAbsent(owner: string, id: string, value: V, ttlMs: number, space = 0): boolean {
    if (this.has(owner, id, space)) return false
    this.append(owner, id, value, ttlMs, space)
    return true
  }

  delete(owner: string, id: string, space = 0): boolean {
    const slot = this.find(owner, id, space)
    if (slot < 0) return false
    this.clear(slot)
    return true
  }

  /** Get and delete in one step. */
  take(owner: string, id: string, space = 0): V | undefined {
    const slot = this.find(owner, id, space)
    if (slot < 0) return undefined
    const v = this.expires![slot]! > this.now() ? this.values[slot] : undefined
    this.clear(slot)
    return v
  }

  get size(): number {
    return this.count
  }

  /** The slot holding (space, owner, id), live or expired, or -1. */
  private find(owner: string, id: string, space: number): number {
    let slot = this.index.get(id)
    if (slot === undefined) return -1
    while (slot >= 0 && (this.owners[slot] !== owner || this.spaces![slot] !== space)) slot = this.next![slot]!
    return slot
  }

  /** The key is absent: write it at the young end, after making room and sweeping. */
  private append(owner: string, id: string, value: V, ttlMs: number, space: number): void {
    const now = this.now()
    const cap = this.maxEntries
    const expires = (this.expires ??= new Float64Array(cap))
    const next = (this.next ??= new Int32Array(cap))
    const spaces = (this.spaces ??= new Uint8Array(cap))
    // Empty and expired slots go from the oldest end; a full ring gives up its oldest, live or not.
    while (this.head < this.tail) {
      const slot = this.head % cap
      if (this.owners[slot] !== undefined) {
        if (this.tail - this.head < cap && expires[slot]! > now) break
        this.clear(slot)
      }
      this.head++
    }
    const slot = this.tail++ % cap
    this.owners[slot] = owner
    spaces[slot] = space
    this.ids[slot] = id
    this.values[slot] = value
    expires[slot] = now + ttlMs
    next[slot] = this.index.get(id) ?? -1
    this.index.set(id, slot)
    this.count++
  }

  /** Empties a slot and unlinks it from its id's chain; the sweep steps over it when it reaches it. */
  private clear(slot: number): void {
    const id = this.ids[slot]!
    const next = this.next!
    const first = this.index.get(id)!
    if (first === slot) {
      if (next[slot]! >= 0) this.index.set(id, next[slot]!)
      else this.index.delete(id)
    } else {
      let before = first
      while (next[before] !== slot) before = next[before]!
      next[before] = next[slot]!
    }
    this.owners[slot] = undefined
    this.ids[slot] = ''
    this.values[slot] = undefined
    this.count--
  }
}
