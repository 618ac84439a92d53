// Hostile inputs shared by the chaos tables, and the rows whose outcome is the transport's (SPEC
// section 0) and so the same on every WebSocket surface: oversized and invalid-UTF-8 frames,
// fragmentation, ping and message floods.
import type { Case, Expect } from './harness.ts'

/** WS_MAX_PAYLOAD's default. */
export const LIMIT = 65_536

export const deepArray = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)
export const deepObject = (depth: number, leaf = '1'): string => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth)
/** Deeper than JSON.stringify can recurse (about 4,000 levels), well within the frame limit. */
export const DEEP = 20_000

/** `template` with `%` replaced by a string of `fill` that brings the frame to `size` bytes. */
export function sized(template: string, size: number, fill = 'x'): string {
  const room = size - Buffer.byteLength(template.replace('%', ''))
  return template.replace('%', fill.repeat(Math.floor(room / Buffer.byteLength(fill))))
}

/** An array of `n` short strings inside `template` at `%`. */
export const manyItems = (template: string, n: number): string => template.replace('%', Array.from({ length: n }, () => '"a"').join(','))

/** Hostile characters for names and content. */
export const CHARS = {
  nul: '\u0000',
  controls: '\u0001\u0007\u001b[31m\u007f\u0085',
  loneHigh: '\ud800',
  loneLow: '\udfff',
  rtlOverride: '\u202e',
  isolate: '\u2067',
  zeroWidth: '\u200b\u2060\ufeff'
} as const

/** UTF-8 that ws must refuse (1007): a stray continuation byte, an overlong '/', a CESU surrogate, a cut sequence. */
export const INVALID_UTF8: [string, Buffer][] = [
  ['a stray 0xff byte', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
  ['an overlong encoding of "/"', Buffer.from([0x22, 0xc0, 0xaf, 0x22])],
  ['a UTF-16 surrogate encoded as UTF-8 (CESU)', Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])],
  ['a sequence cut short at the end', Buffer.from([0x22, 0x61, 0xe2, 0x82])]
]

const closes = (code: number, reason?: string): Expect => (reason === undefined ? { close: code } : { close: code, reason })

/**
 * Rows every WebSocket surface shares. `valid` is a frame the surface answers normally (with a
 * multi-byte character in it) and the answer expected; fragmented, it must be answered the same. Frame budget (SPEC 0, README):
 * WS_FRAMES_PER_SEC 100 sustained, WS_FRAME_BURST 200; `flood` is the close reason of a
 * message flood where another cap trips first (a walker's queue).
 */
export function transportRows<S>(valid: { frame: string; expect: Expect; flood?: string }): Case<S>[] {
  const f = valid.frame
  const third = Math.ceil(f.length / 3)
  const thirds = [f.slice(0, third), f.slice(third, 2 * third), f.slice(2 * third)]
  const overLimit = 'x'.repeat(LIMIT + 1)
  const bytes = Buffer.from(f)
  const inside = bytes.findIndex((b) => b >= 0x80) + 1 // the middle of the first multi-byte character
  if (inside === 0) throw new Error(`transportRows: the valid frame needs a multi-byte character: ${f}`)
  return [
    { name: 'a text frame one byte over WS_MAX_PAYLOAD closes 1009', send: overLimit, expect: closes(1009) },
    { name: 'a binary frame over WS_MAX_PAYLOAD closes 1009', send: { binary: Buffer.alloc(LIMIT + 1) }, expect: closes(1009) },
    { name: 'a message over the limit only once its fragments add up closes 1009', send: { fragments: [overLimit.slice(0, 40_000), overLimit.slice(40_000)] }, expect: closes(1009) },
    ...INVALID_UTF8.map(([what, bytes]): Case<S> => ({ name: `invalid UTF-8 (${what}) closes 1007`, send: { bytes }, expect: closes(1007) })),
    {
      name: 'invalid UTF-8 in the last fragment of a message closes 1007',
      send: { fragments: ['"abc', Buffer.from([0x64, 0xff, 0x22])] },
      expect: closes(1007)
    },
    { name: 'a valid message in three fragments is answered as one', send: { fragments: thirds }, expect: valid.expect },
    { name: 'fragments with a ping between them are answered as one message', send: { fragments: thirds, pingBetween: true }, expect: valid.expect },
    {
      name: 'a multi-byte character split across fragments is valid UTF-8 as a whole',
      send: { fragments: [bytes.subarray(0, inside), bytes.subarray(inside)] },
      expect: valid.expect
    },
    {
      name: 'a message in 20,000 fragments (past ws maxFragments, 16,384) closes 1008',
      send: { fragments: Array.from({ length: 20_000 }, () => 'x') },
      expect: closes(1008)
    },
    { name: 'a burst of 50 pings within the frame budget: answered by pongs, no message, still open', send: { pings: 50, size: 125 }, expect: { replies: [] } },
    // ws cuts a peer with more than 60 pongs not yet written (a ping flood that does not read):
    // the TCP connection is destroyed, 1006 on the client's side.
    { name: 'a burst of 2,000 pings is cut by ws at 60 unanswered pongs (1006)', send: { pings: 2000, size: 125 }, expect: closes(1006) },
    // Paced so that ws's cap never trips: the frame budget counts pings like messages.
    { name: 'a sustained ping flood past the frame budget closes 1008', send: { pings: 2000, size: 125, batch: 20 }, expect: closes(1008, 'frame rate limit exceeded') },
    { name: 'a message flood closes 1008', send: { repeat: 1000, frame: f }, expect: closes(1008, valid.flood ?? 'frame rate limit exceeded') }
  ]
}
