// A map whose entries expire, with a hard cap on size, for state that must be remembered for a
// while but never grow without bound (dedupe of message ids, where to send a read receipt).
// Keys have two parts, an owner and an id (a user id and a message id).
//
// Built for the relay's hot path, where every MSG writes keys into maps sitting at their cap:
// - Two parts, not one joined string: the parts are strings that already exist (the session's
//   user id, the id JSON.parse made), whose hashes V8 caches, so a lookup builds nothing. A
//   joined key was a fresh string per operation, flattened and hashed, and lived as long as its
//   entry: garbage the collector had to promote and then reclaim.
// - Entries live in a ring of slots in write order (parallel arrays: owner, id, value, expiry);
//   the maps hold only id → slot number, a small integer V8 stores unboxed. The sweep walks the
//   ring from its oldest end, with no iterator (a Map iterator allocates two objects a step).
//
// The ring has `maxEntries` slots; writing into a full ring evicts its oldest entry. Re-setting
// a key moves it to the young end and leaves its old slot empty until the sweep passes it, so a
// key re-set very often takes ring slots from others sooner (dedupe and receipt keys are
// written once). Expired entries are swept from the oldest end on every write, and get() never
// returns one, whatever order their TTLs put them in.

export class TtlMap<V> {
  /** owner → id → slot; an owner's map goes when its last entry does. */
  private readonly slots = new Map<string, Map<string, number>>()
  private count = 0
  // Made on the first write: an instance that never stores anything costs nothing.
  private owners: (string | undefined)[] = []
  private ids: string[] = []
  private values: (V | undefined)[] = []
  private expires: Float64Array | undefined
  /** Ring positions as ever-growing counters; the slot is the counter modulo the capacity. */
  private head = 0
  private tail = 0

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now
  ) {
    if (!(maxEntries >= 1)) throw new RangeError('TtlMap needs room for at least one entry')
  }

  get(owner: string, id: string): V | undefined {
    const slot = this.slots.get(owner)?.get(id)
    if (slot === undefined) return undefined
    if (this.expires![slot]! <= this.now()) {
      this.clear(slot)
      return undefined
    }
    return this.values[slot]
  }

  has(owner: string, id: string): boolean {
    return this.get(owner, id) !== undefined
  }

  set(owner: string, id: string, value: V, ttlMs: number): void {
    const old = this.slots.get(owner)?.get(id)
    if (old !== undefined) this.clear(old)
    this.append(owner, id, value, ttlMs)
  }

  /** Set only when absent (or expired); true when this call set it. */
  setIfAbsent(owner: string, id: string, value: V, ttlMs: number): boolean {
    if (this.has(owner, id)) return false
    this.append(owner, id, value, ttlMs)
    return true
  }

  delete(owner: string, id: string): boolean {
    const slot = this.slots.get(owner)?.get(id)
    if (slot === undefined) return false
    this.clear(slot)
    return true
  }

  /** Get and delete in one step. */
  take(owner: string, id: string): V | undefined {
    const v = this.get(owner, id)
    if (v !== undefined) this.delete(owner, id)
    return v
  }

  get size(): number {
    return this.count
  }

  /** The key is absent: write it at the young end, after making room and sweeping. */
  private append(owner: string, id: string, value: V, ttlMs: number): void {
    const now = this.now()
    const cap = this.maxEntries
    const expires = (this.expires ??= new Float64Array(cap))
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
    this.ids[slot] = id
    this.values[slot] = value
    expires[slot] = now + ttlMs
    let byId = this.slots.get(owner)
    if (!byId) this.slots.set(owner, (byId = new Map()))
    byId.set(id, slot)
    this.count++
  }

  /** Empties a slot; the sweep steps over it when it reaches it. */
  private clear(slot: number): void {
    const owner = this.owners[slot]!
    const byId = this.slots.get(owner)!
    byId.delete(this.ids[slot]!)
    if (byId.size === 0) this.slots.delete(owner)
    this.owners[slot] = undefined
    this.ids[slot] = ''
    this.values[slot] = undefined
    this.count--
  }
}
