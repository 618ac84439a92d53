// An expiring map with a hard cap on size (message-id dedupe, read-receipt routes), keyed by
// (space, owner, id). Shaped by the relay's hot path (docs/bench.md, "The expiring key map").
import { halfSipHash, randomHalfSipKey, type HalfSipKey } from './halfsiphash.ts'

/**
 * Keys live in a ring of slots, each slot holding up to two keys of one id (its two places). A
 * key written right after another of the same id, in a space or under an owner the slot does
 * not hold yet, takes the youngest slot's free place instead of a slot of its own: a MSG's
 * dedupe key and then its receipt key cost one slot, one eviction and one index entry.
 *
 * The index is a table of its own, not a Map: open addressing over (hash, youngest slot) pairs,
 * one per distinct id, in one Int32Array, linear probing, backward-shift deletion, at most half
 * full. The older slots of an id (other owners: ids are the clients' own, "1" is common) follow
 * the youngest through `next`, so a much-repeated id lengthens its own chain, not every id's
 * probe. In a Map at its cap every fresh id and every eviction was a chain of cold reads
 * (bucket, entries, key strings); here a probe reads one pair, and a key string only when the
 * hashes match. The hash is keyed (HalfSipHash, a random key per map), so nobody can choose
 * distinct ids that collide.
 *
 * A full ring evicts its oldest slot when a key needs a new slot; slots whose keys all expired
 * are swept from the oldest end then too, and get() never returns an expired key. Re-setting a
 * key moves it to the young end (its old place stays empty until the sweep passes it).
 */
export class TtlMap<V> {
  private count = 0
  private readonly hashKey: HalfSipKey = randomHalfSipKey()
  /** The index: (hash, the id's youngest slot) per position, slot -1 for an empty position. */
  private table: Int32Array | undefined
  private readonly mask: number
  // Made on the first write: an instance that never stores anything costs nothing.
  /** By slot: the id its keys share, its hash, and the next older slot of the same id (-1: none). */
  private ids: string[] = []
  private hashes: Int32Array | undefined
  private next: Int32Array | undefined
  /** By place (slot × 2 + 0 or 1): the key's owner (undefined: the place is free), value, expiry, space (0–255). */
  private owners: (string | undefined)[] = []
  private values: (V | undefined)[] = []
  private expires: Float64Array | undefined
  private spaces: Uint8Array | undefined
  /** Ring positions as ever-growing counters; the slot is the counter modulo the capacity. */
  private head = 0
  private tail = 0
  /** The last id hashed and its hash: a write follows the lookup of its id. */
  private lastId: string | undefined
  private lastHash = 0

  constructor(
    /** Slots; each holds one or two keys. */
    private readonly maxSlots: number,
    private readonly now: () => number = Date.now
  ) {
    if (!(maxSlots >= 1)) throw new RangeError('TtlMap needs room for at least one entry')
    let positions = 2
    while (positions < maxSlots * 2) positions *= 2
    this.mask = positions - 1
  }

  get(owner: string, id: string, space = 0): V | undefined {
    const place = this.find(owner, id, space)
    if (place < 0) return undefined
    if (this.expires![place]! <= this.now()) {
      this.clear(place)
      return undefined
    }
    return this.values[place]
  }

  has(owner: string, id: string, space = 0): boolean {
    return this.get(owner, id, space) !== undefined
  }

  set(owner: string, id: string, value: V, ttlMs: number, space = 0): void {
    const old = this.find(owner, id, space)
    if (old >= 0) this.clear(old)
    this.write(owner, id, value, ttlMs, space)
  }

  /** Set only when absent (or expired); true when this call set it. */
  setIfAbsent(owner: string, id: string, value: V, ttlMs: number, space = 0): boolean {
    if (this.has(owner, id, space)) return false
    this.write(owner, id, value, ttlMs, space)
    return true
  }

  delete(owner: string, id: string, space = 0): boolean {
    const place = this.find(owner, id, space)
    if (place < 0) return false
    this.clear(place)
    return true
  }

  /** Get and delete in one step. */
  take(owner: string, id: string, space = 0): V | undefined {
    const place = this.find(owner, id, space)
    if (place < 0) return undefined
    const v = this.expires![place]! > this.now() ? this.values[place] : undefined
    this.clear(place)
    return v
  }

  /** Keys held, live or expired and not yet swept. */
  get size(): number {
    return this.count
  }

  private hash(id: string): number {
    if (id !== this.lastId) {
      this.lastId = id
      this.lastHash = halfSipHash(this.hashKey, id)
    }
    return this.lastHash
  }

  /** The table position of `id`'s entry, or, when it has none, of the empty position where it would go (as -1 - position). */
  private position(id: string, h: number): number {
    const table = this.table!
    const { ids, mask } = this
    for (let pos = h & mask; ; pos = (pos + 1) & mask) {
      const slot = table[pos * 2 + 1]!
      if (slot < 0) return -1 - pos
      if (table[pos * 2] === h && ids[slot] === id) return pos
    }
  }

  /** The place holding (space, owner, id), live or expired, or -1. */
  private find(owner: string, id: string, space: number): number {
    if (!this.table) return -1
    const pos = this.position(id, this.hash(id))
    if (pos < 0) return -1
    const { owners } = this
    const spaces = this.spaces!
    const next = this.next!
    for (let slot = this.table[pos * 2 + 1]!; slot >= 0; slot = next[slot]!) {
      const p = slot * 2
      if (owners[p] === owner && spaces[p] === space) return p
      if (owners[p + 1] === owner && spaces[p + 1] === space) return p + 1
    }
    return -1
  }

  /** The key is absent: write it in the youngest slot when that holds its id and has a free place, else in a new slot. */
  private write(owner: string, id: string, value: V, ttlMs: number, space: number): void {
    const now = this.now()
    const cap = this.maxSlots
    const owners = this.owners
    if (!this.table) {
      this.table = new Int32Array((this.mask + 1) * 2).fill(-1)
      this.hashes = new Int32Array(cap)
      this.next = new Int32Array(cap)
      this.expires = new Float64Array(cap * 2)
      this.spaces = new Uint8Array(cap * 2)
    }
    let place = -1
    if (this.tail > this.head) {
      const youngest = (this.tail - 1) % cap
      const p = youngest * 2
      const a = owners[p]
      const b = owners[p + 1]
      // Live (a key in one place), of this id, with the other place free.
      if ((a === undefined) !== (b === undefined) && this.ids[youngest] === id) place = a === undefined ? p : p + 1
    }
    if (place < 0) {
      // Slots whose keys all expired go from the oldest end; a full ring gives up its oldest, live or not.
      while (this.head < this.tail) {
        const slot = this.head % cap
        if (owners[slot * 2] !== undefined || owners[slot * 2 + 1] !== undefined) {
          if (this.tail - this.head < cap && this.latest(slot) > now) break
          this.clearSlot(slot)
        }
        this.head++
      }
      const slot = this.tail++ % cap
      const h = this.hash(id)
      this.ids[slot] = id
      this.hashes![slot] = h
      this.index(slot, id, h)
      place = slot * 2
      // Both places written in order, the second free: the arrays grow without holes.
      owners[place] = owner
      this.values[place] = value
      owners[place + 1] = undefined
      this.values[place + 1] = undefined
    } else {
      owners[place] = owner
      this.values[place] = value
    }
    this.spaces![place] = space
    this.expires![place] = now + ttlMs
    this.count++
  }

  /** When the last of a slot's keys expires. */
  private latest(slot: number): number {
    const p = slot * 2
    const e = this.expires!
    if (this.owners[p] === undefined) return e[p + 1]!
    if (this.owners[p + 1] === undefined) return e[p]!
    return Math.max(e[p]!, e[p + 1]!)
  }

  /** Empties a place that holds a key. */
  private free(place: number): void {
    this.owners[place] = undefined
    this.values[place] = undefined
    this.count--
  }

  /** Frees one key's place; the slot's last key going takes the slot out of the index. */
  private clear(place: number): void {
    this.free(place)
    if (this.owners[place ^ 1] === undefined) this.unindex(place >> 1)
  }

  /** Frees a slot and both its places. */
  private clearSlot(slot: number): void {
    const p = slot * 2
    if (this.owners[p] !== undefined) this.free(p)
    if (this.owners[p + 1] !== undefined) this.free(p + 1)
    this.unindex(slot)
  }

  /** Puts a new slot in the index: the youngest of its id, ahead of any older ones, or its id's first entry. */
  private index(slot: number, id: string, h: number): void {
    const table = this.table!
    const pos = this.position(id, h)
    if (pos >= 0) {
      this.next![slot] = table[pos * 2 + 1]!
      table[pos * 2 + 1] = slot
      return
    }
    this.next![slot] = -1
    table[(-1 - pos) * 2] = h
    table[(-1 - pos) * 2 + 1] = slot
  }

  /**
   * Takes an empty slot out of the index: out of its id's chain, and the id's entry with it when
   * it was the id's last slot. An entry's position is emptied and the positions after it shift
   * back over the gap where their probe allows (backward-shift deletion: no tombstones, so
   * probes never grow with churn). The sweep steps over the slot when it reaches it.
   */
  private unindex(slot: number): void {
    const table = this.table!
    const next = this.next!
    const mask = this.mask
    let gap = this.position(this.ids[slot]!, this.hashes![slot]!) // the slot is indexed: its id has an entry
    const youngest = table[gap * 2 + 1]!
    this.ids[slot] = ''
    if (youngest !== slot) {
      let before = youngest
      while (next[before] !== slot) before = next[before]!
      next[before] = next[slot]!
      return
    }
    if (next[slot]! >= 0) {
      table[gap * 2 + 1] = next[slot]!
      return
    }
    for (let pos = (gap + 1) & mask; ; pos = (pos + 1) & mask) {
      const moving = table[pos * 2 + 1]!
      if (moving < 0) break
      // An entry whose home is cyclically in (gap, pos] must stay; any other may fill the gap.
      const home = table[pos * 2]! & mask
      if (gap <= pos ? gap < home && home <= pos : gap < home || home <= pos) continue
      table[gap * 2] = table[pos * 2]!
      table[gap * 2 + 1] = moving
      gap = pos
    }
    table[gap * 2 + 1] = -1
  }
}
