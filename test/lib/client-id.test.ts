// Connection ids (SPEC section 0): `<prefix>_<epoch ms>_<5 random digits>`, unique while live.
// The digits come from a batch of CSPRNG values (client-id.ts); these tests pin the format, the
// zero padding, the spread over all five digits and the uniqueness the batch must not break.
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

t.test('the digits are uniform over 00000-99999: padded, every leading digit, no repeats while live', async (t) => {
  const ids = new ClientIds()
  const n = 20_000 // more than a batch many times over, and 20 % of the space: collisions must draw again
  const leading = new Map<string, number>()
  const all = new Set<string>()
  for (let i = 0; i < n; i++) {
    const id = ids.next('ws_client')
    const digits = ID.exec(id)![2]!
    leading.set(digits[0]!, (leading.get(digits[0]!) ?? 0) + 1)
    all.add(id)
  }
  t.equal(all.size, n, 'every live id distinct')
  t.equal(ids.size, n)
  t.equal(leading.size, 10, 'all ten leading digits, 0 included (zero-padded)')
  for (const [d, count] of leading) t.ok(count > n / 10 * 0.8 && count < n / 10 * 1.2, `leading ${d}: ${count} of ${n}`)
})

t.test('a released id may be drawn again; the live set shrinks', async (t) => {
  const ids = new ClientIds()
  const id = ids.next('walker_client')
  ids.release(id)
  t.equal(ids.size, 0)
  ids.release(id) // twice: no harm
  t.equal(ids.size, 0)
})
