// PRESENCE frame text for Presence: entries serialized once, frames as those strings joined. A
// join storm builds a full list for every HELLO: serializing each entry when its user joins (or
// is renamed) and joining the strings costs one copy per list, not thousands of JSON.stringify.
//
// The text is byte-identical to presenceFrame() (src/protocol/fastchat.ts): JSON.stringify of
// an array is its elements' JSON joined by commas with no whitespace, and every entry here is
// stringified as an object of the same keys in the same order, so its escaping is the same.
import { presenceFrame, type PresenceEntry } from '../protocol/fastchat.ts'

// Taken from the canonical builder, so the envelope cannot drift from it.
const EMPTY = presenceFrame([])
const OPEN = EMPTY.indexOf('[]') + 1
const HEAD = EMPTY.slice(0, OPEN)
const TAIL = EMPTY.slice(OPEN)

/** One entry of a PRESENCE list, as the JSON presenceFrame() would write for it. */
export function entryJson(user_id: string, display_name: string, online: boolean): string {
  return JSON.stringify({ user_id, display_name, online } satisfies PresenceEntry)
}

/** A PRESENCE frame whose list is `body`: entries' JSON joined by commas ('' for none). */
export function frameOf(body: string): string {
  return HEAD + body + TAIL
}

/** The body of a frame made by frameOf(). */
export function bodyOf(frame: string): string {
  return frame.slice(HEAD.length, frame.length - TAIL.length)
}

/** `a` and `b`, two lists' bodies, as one. */
export function joinBodies(a: string, b: string): string {
  if (a === '') return b
  if (b === '') return a
  return a + ',' + b
}
