// HalfSipHash (Aumasson and Bernstein; the reference is github.com/veorq/SipHash, CC0): a keyed
// 32-bit hash for hash tables whose keys come from clients. Without the key, nobody can pick keys
// that collide (hash flooding), which a plain multiplicative hash would let them do. Linux hashes
// its tables with HalfSipHash-1-3 for the same reason. Written here, not taken from npm: the
// packages there encode the string to bytes and return an object per call, and TtlMap hashes
// every message id. This one hashes a string's UTF-16 code units where they are (its UTF-16LE
// bytes) and allocates nothing. Checked against the reference vectors (test/lib/halfsiphash.test.ts).
import { randomBytes } from 'node:crypto'

/** A 64-bit key as two 32-bit halves (the reference's k[0..3] and k[4..7], little-endian). */
export interface HalfSipKey {
  k0: number
  k1: number
}

/** A fresh random key: one per table, never shown to anyone. */
export function randomHalfSipKey(): HalfSipKey {
  const k = randomBytes(8)
  return { k0: k.readInt32LE(0), k1: k.readInt32LE(4) }
}

/**
 * HalfSipHash-c-d with a 32-bit output of the UTF-16LE bytes of `s`, as a signed 32-bit integer.
 * 1-3 (the default) is for hash tables; the reference vectors are of 2-4.
 */
export function halfSipHash(key: HalfSipKey, s: string, cRounds = 1, dRounds = 3): number {
  let v0 = key.k0 | 0
  let v1 = key.k1 | 0
  let v2 = 0x6c796765 ^ v0
  let v3 = 0x74656462 ^ v1
  const n = s.length
  const words = n >> 1
  // The last block: the length's low byte on top, an odd code unit out at the bottom.
  const last = ((n * 2) << 24) | (n & 1 ? s.charCodeAt(n - 1) : 0)
  // The words of the input, then the last block, then the finalization: one round loop for all three.
  for (let w = 0; w <= words + 1; w++) {
    let m = 0
    let rounds = cRounds
    if (w < words) m = s.charCodeAt(2 * w) | (s.charCodeAt(2 * w + 1) << 16)
    else if (w === words) m = last
    else {
      v2 ^= 0xff
      rounds = dRounds
    }
    v3 ^= m
    for (let r = 0; r < rounds; r++) {
      v0 = (v0 + v1) | 0
      v1 = (v1 << 5) | (v1 >>> 27)
      v1 ^= v0
      v0 = (v0 << 16) | (v0 >>> 16)
      v2 = (v2 + v3) | 0
      v3 = (v3 << 8) | (v3 >>> 24)
      v3 ^= v2
      v0 = (v0 + v3) | 0
      v3 = (v3 << 7) | (v3 >>> 25)
      v3 ^= v0
      v2 = (v2 + v1) | 0
      v1 = (v1 << 13) | (v1 >>> 19)
      v1 ^= v2
      v2 = (v2 << 16) | (v2 >>> 16)
    }
    v0 ^= m
  }
  return v1 ^ v3
}
