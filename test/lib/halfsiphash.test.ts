// HalfSipHash against the reference implementation's vectors (github.com/veorq/SipHash,
// vectors.h, vectors_hsip32: HalfSipHash-2-4, 32-bit output, key 00..07, input 00..len-1).
// The function reads UTF-16 code units, so the inputs of even length are checked: the string
// whose UTF-16LE bytes are 00 01 02 … len-1.
import t from 'tap'
import { halfSipHash, randomHalfSipKey } from '../../src/lib/halfsiphash.ts'

// vectors_hsip32[0], [2], [4] … [62], as little-endian 32-bit integers.
const EVEN_LENGTH_VECTORS = [
  0x5b9f35a9, 0x03a662fa, 0x89466e2a, 0x23fc6358, 0x8f84b8d0, 0x3479b094, 0x2f87f057, 0x7cf8ffd6,
  0x84acb5d9, 0x9b8d5b46, 0x45104de3, 0xfe67f370, 0x630c4027, 0x5f7b564f, 0x004064b0, 0x8b339e50,
  0x1221e7fe, 0x8c4f436a, 0xecc65ce7, 0x0f8b6863, 0x4018bcb6, 0x2efd4224, 0x48d50577, 0xc899d4b6,
  0xe32ce169, 0xc6649736, 0xd4f3853b, 0x3a2a691e, 0x40b9c5a5, 0x4081bc7d, 0x736ce7d4, 0x7a9983bd
]
const KEY = { k0: 0x03020100, k1: 0x07060504 }

t.test('HalfSipHash-2-4 gives the reference vectors', async (t) => {
  EVEN_LENGTH_VECTORS.forEach((expected, i) => {
    const len = i * 2
    let s = ''
    for (let b = 0; b < len; b += 2) s += String.fromCharCode(b | ((b + 1) << 8))
    t.equal(halfSipHash(KEY, s, 2, 4) >>> 0, expected, `${len} bytes`)
  })
})

t.test('HalfSipHash-1-3: an odd code unit counts, as do its position and the key', async (t) => {
  const key = randomHalfSipKey()
  const seen = new Set<number>()
  for (const s of ['', 'a', 'b', 'ab', 'ba', 'abc', 'abd', 'é', '😀', 'msg-1', 'msg-2', '1-gsm']) seen.add(halfSipHash(key, s))
  t.equal(seen.size, 12, 'twelve short strings, twelve hashes')
  t.not(halfSipHash(key, 'msg-1'), halfSipHash(randomHalfSipKey(), 'msg-1'), 'another key, another hash')
  t.equal(halfSipHash(key, 'msg-1'), halfSipHash(key, `msg-${1}`), 'equal strings hash the same')
})
