// PRESENCE frames for Presence: entries serialized once, as UTF-8 appended to a log, and a frame
// as that log's bytes between the envelope's head and tail, in pieces (src/lib/text-parts.ts). A
// join storm sends a full list for every HELLO and a delta for every debounce window: each of
// them is then a slice of a log that already holds its bytes, written to the socket as it is,
// not a string joined, flattened and encoded again per list (docs/bench.md, "The join storm's
// floor"). Deltas worked out user by user (rare) are strings, framed by frameOf().
//
// The text is byte-identical to presenceFrame() (src/protocol/fastchat.ts): JSON.stringify of
// an array is its elements' JSON joined by commas with no whitespace, and every entry here is
// stringified as an object of the same keys in the same order, so its escaping is the same.
import { TextParts } from '../lib/text-parts.ts'
import { presenceFrame, type PresenceEntry } from '../protocol/fastchat.ts'

// Taken from the canonical builder, so the envelope cannot drift from it.
const EMPTY = presenceFrame([])
const OPEN = EMPTY.indexOf('[]') + 1
const HEAD = EMPTY.slice(0, OPEN)
const TAIL = EMPTY.slice(OPEN)
const HEAD_BYTES = Buffer.from(HEAD)
const TAIL_BYTES = Buffer.from(TAIL)

/** One entry of a PRESENCE list, as the JSON presenceFrame() would write for it. */
export function entryJson(user_id: string, display_name: string, online: boolean): string {
  return JSON.stringify({ user_id, display_name, online } satisfies PresenceEntry)
}

/** A PRESENCE frame whose list is `body`: entries' JSON joined by commas ('' for none). */
export function frameOf(body: string): string {
  return HEAD + body + TAIL
}

/** A PRESENCE frame whose list is `body` (bytes of an EntryLog), in pieces: the body is not copied. */
export function framePartsOf(body: Buffer): TextParts {
  return new TextParts([HEAD_BYTES, body, TAIL_BYTES])
}

const NONE = Buffer.alloc(0)
const FIRST_CAPACITY = 16 * 1024

/**
 * Entries' JSON as UTF-8, joined by commas, in a buffer that is only ever appended to: the run
 * of entries from any one of them to the newest is a list body, handed out as a slice with no
 * copy. Bytes once written never change (a full buffer is copied into a larger one; clear()
 * starts a new one), so slices still on their way to sockets stay valid. A position counts bytes
 * since the log began or was cleared, whatever buffer holds them now.
 */
export class EntryLog {
  private buf = NONE
  /** The position of buf[0]. */
  private base = 0
  private endAt = 0
  /** Bytes before this position are not asked for again: a larger buffer leaves them behind. */
  private keptFrom = 0

  /** The position after the newest entry. */
  get end(): number {
    return this.endAt
  }

  /** Append an entry; the position returned is where bodyFrom() starts with it. */
  append(json: string): number {
    const n = Buffer.byteLength(json)
    const comma = this.endAt > this.base ? 1 : 0
    if (this.endAt - this.base + comma + n > this.buf.length) this.grow(comma + n)
    let at = this.endAt - this.base
    if (comma) this.buf[at++] = 0x2c // ','
    // All ASCII (as many bytes as characters): latin1 writes the same bytes without UTF-8 encoding.
    this.buf.write(json, at, n, n === json.length ? 'latin1' : 'utf8')
    const position = this.base + at
    this.endAt = position + n
    return position
  }

  /** The entries from `position` (one append() returned) to the newest, as a list body. */
  bodyFrom(position: number): Buffer {
    // A dropped position would be a negative index: bytes from the end of the buffer, unwritten ones among them.
    if (position < this.keptFrom) throw new RangeError(`entry log: position ${position} was dropped (kept from ${this.keptFrom})`)
    return this.buf.subarray(position - this.base, this.endAt - this.base)
  }

  /** Every entry since the log began or was cleared, as a list body (for a log never dropped from). */
  body(): Buffer {
    return this.bodyFrom(0)
  }

  /**
   * Entries before `position` (an entry's, or end) will not be asked for again. Dropping them
   * all starts a new buffer, so a large one (a storm's changes) is not kept for nothing.
   */
  dropBefore(position: number): void {
    if (position >= this.endAt) this.clear()
    else this.keptFrom = position
  }

  /** Empty, in a new buffer of `capacity` bytes (made at the first append when 0): the old one's slices are left as they are. */
  clear(capacity = 0): void {
    this.buf = capacity > 0 ? Buffer.allocUnsafeSlow(capacity) : NONE
    this.base = this.endAt = this.keptFrom = 0
  }

  private grow(need: number): void {
    const kept = this.endAt - this.keptFrom
    const next = Buffer.allocUnsafeSlow(Math.max(FIRST_CAPACITY, 2 * (kept + need)))
    this.buf.copy(next, 0, this.keptFrom - this.base, this.endAt - this.base)
    this.buf = next
    this.base = this.keptFrom
  }
}
