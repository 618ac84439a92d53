// Connection ids (SPEC section 0): `<prefix>_<epoch ms>_<5 random digits>`, unique while live.
// These tests pin the format, the zero padding, the spread of the first and last digit, and that
// no id repeats while its connection is live.
import t from 'tap'
import { ClientIds } from '../../src/lib/client-id.ts'

const ID = /^ws_client_(\d{13})_(\d{5})$/

t.test('ids have the SPEC shape, the current epoch ms and five digits', async (t) => {
  const ids = new ClientIds()
  const before = Date.now()
  const id = ids.next('ws_client')
  const m = ID.exec(id)
  t.ok(m, id)
  t.ok(Number(m![1]) >= before && Number(m![1]) <= Date.now(), 'epoch ms of the call')
  t.match(ids.next('echo_client'), /^echo_client_\d{13}_\d{5}$/)
  t.equal(ids.size, 2)
})

t.test('the digits spread over 00000-99999: padded, every first and last digit, no repeats while live', async (t) => {
  const ids = new ClientIds()
  const n = 20_000 // many ids in the same millisecond: a repeat there must draw again
  const first = new Map<string, number>()
  const last = new Map<string, number>()
  const all = new Set<string>()
  for (let i = 0; i < n; i++) {
    const id = ids.next('ws_client')
    const digits = ID.exec(id)![2]!
    first.set(digits[0]!, (first.get(digits[0]!) ?? 0) + 1)
    last.set(digits[4]!, (last.get(digits[4]!) ?? 0) + 1)
    all.add(id)
  }
  t.equal(all.size, n, 'every live id distinct')
  t.equal(ids.size, n)
  t.equal(first.size, 10, 'all ten first digits, 0 included (zero-padded)')
  t.equal(last.size, 10, 'all ten last digits')
  // ±10 %: 4.7 standard deviations of a uniform digit's count (a false failure ~1 in 20,000 runs).
  for (const [where, counts] of [['first', first], ['last', last]] as const) {
    for (const [d, count] of counts) t.ok(count > n / 10 * 0.9 && count < n / 10 * 1.1, `${where} digit ${d}: ${count} of ${n}`)
  }
})

t.test('releasing an id shrinks the live set, twice is harmless', async (t) => {
  const ids = new ClientIds()
  const id = ids.next('walker_client')
  ids.release(id)
  t.equal(ids.size, 0)
  ids.release(id) // twice: no harm
  t.equal(ids.size, 0)
})
