// A map whose entries expire, with a hard cap on size, for state that must be remembered for a
// while but never grow without bound (dedupe of message ids, where to send a read receipt).
// Keys have two parts, an owner and an id (a user id and a message id), in a numbered space:
// several kinds of key (dedupe and receipts) share one ring and one index.
//
// Built for the relay's hot path, where every MSG writes keys into maps sitting at their cap:
// - One index, id → slot, not one joined string and not a map per owner: the id is a string
//   that already exists (the one JSON.parse made), whose hash V8 caches, so a lookup builds
//   nothing. A joined key was a fresh string per operation; a map per owner was created and
//   dropped whenever an owner's last entry went (a receipt is taken right after it is set), and
//   cost two lookups per operation. Profiled on the relay benchmark, that design was a seventh
//   of the server's CPU.
// - The same id under several owners (ids are the clients' own: "1", "msg-2") is a chain of
//   slots through `next`, youngest first; the owner is compared along it. Chains are short:
//   they hold the owners that used one id within the TTL.
// - One ring for every space: a MSG writes a dedupe key and a receipt key with the same id, so
//   the second finds the index entry the first just touched, and evicting the older of the two
//   warms the index for the younger (in a map at its cap, the cold lookups are the cost).
// - Entries live in a ring of slots in write order (parallel arrays: space, owner, id, value,
//   expiry, next); the index holds small integers V8 stores unboxed. The sweep walks the ring from its
//   oldest end, with no iterator (a Map iterator allocates two objects a step).
//
// The ring has `maxEntries` slots; writing into a full ring evicts its oldest entry. Re-setting
// a key moves it to the young end and leaves its old slot empty until the sweep passes it, so a
// key re-set very often takes ring slots from others sooner (dedupe and receipt keys are
// written once). Expired entries are swept from the oldest end on every write, and get() never
// returns one, whatever order their TTLs put them in.

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
