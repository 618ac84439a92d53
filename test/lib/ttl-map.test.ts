// TtlMap (expiring, bounded) and the KeyedSerial queue.
import t from 'tap'
import { TtlMap } from '../../src/lib/ttl-map.ts'
import { KeyedSerial } from '../../src/lib/keyed-serial.ts'

t.test('TtlMap: entries expire, setIfAbsent is first-wins, take deletes, size is capped', async (t) => {
  let now = 0
  const m = new TtlMap<string>(3, () => now)
  t.equal(m.setIfAbsent('u', 'a', '1', 100), true)
  t.equal(m.setIfAbsent('u', 'a', '2', 100), false)
  t.equal(m.setIfAbsent('v', 'a', '3', 100), true, 'keys are per owner')
  t.equal(m.get('u', 'a'), '1')
  now = 100
  t.equal(m.get('u', 'a'), undefined, 'expired at its ttl')
  t.equal(m.setIfAbsent('u', 'a', '3', 100), true, 'claimable again')
  t.equal(m.take('u', 'a'), '3')
  t.equal(m.has('u', 'a'), false)
  for (const k of ['w', 'x', 'y', 'z']) m.set('u', k, k, 1000)
  t.equal(m.size, 3, 'the oldest goes past the cap')
  t.equal(m.get('u', 'w'), undefined)
  t.equal(m.get('u', 'x'), 'x')
  m.set('u', 'x', 'x2', 1000)
  t.equal(m.get('u', 'x'), 'x2', 're-set')
  m.set('u', 'q', 'q', 1000)
  t.equal(m.get('u', 'x'), 'x2', 'a re-set key moved to the young end')
  t.equal(m.get('u', 'y'), undefined, 'so the next oldest went')
  now = 5000
  m.set('u', 'fresh', 'f', 10)
  t.equal(m.size, 1, 'expired entries are swept on write')
  t.throws(() => new TtlMap(0), RangeError)
})

t.test('TtlMap: a key written right after another of its id shares that slot (a MSG\'s dedupe and receipt keys)', async (t) => {
  let now = 0
  const m = new TtlMap<string>(2, () => now)
  // A MSG's two keys: the sender's dedupe key, then the recipient's receipt key, one id.
  t.equal(m.setIfAbsent('alice', 'x', '1', 100, 0), true)
  m.set('bob', 'x', 'alice', 50, 1)
  t.equal(m.setIfAbsent('alice', 'y', '1', 100, 0), true)
  m.set('bob', 'y', 'alice', 50, 1)
  t.equal(m.size, 4, 'two MSGs, four keys, in the ring\'s two slots')
  t.equal(m.get('alice', 'x', 0), '1')
  t.equal(m.get('bob', 'x', 1), 'alice')
  t.equal(m.get('bob', 'y', 0), undefined, 'each key keeps its space')
  t.equal(m.get('alice', 'y', 1), undefined, 'and its owner')
  // A third id needs a slot: the oldest goes, both its keys with it.
  m.set('carol', 'z', 'c', 100, 0)
  t.equal(m.get('alice', 'x', 0), undefined, 'the oldest slot went whole')
  t.equal(m.get('bob', 'x', 1), undefined)
  t.equal(m.get('alice', 'y', 0), '1', 'the younger one stayed')
  t.equal(m.size, 3)
  // A third key of the youngest id finds no free place: a slot of its own (and the oldest goes).
  m.set('dave', 'z', 'd', 100, 1)
  m.set('erin', 'z', 'e', 200, 2)
  t.equal(m.get('alice', 'y', 0), undefined, 'the third key of an id took a new slot')
  t.same([m.get('carol', 'z', 0), m.get('dave', 'z', 1), m.get('erin', 'z', 2)], ['c', 'd', 'e'], 'all three keys of z, across two slots')
  // Each key expires on its own; the slot is swept when both have.
  now = 100
  t.equal(m.take('erin', 'z', 2), 'e', 'live until its own expiry')
  t.equal(m.get('carol', 'z', 0), undefined, 'expired at its ttl though its slot holds another key')
  t.equal(m.get('dave', 'z', 1), undefined)
  t.equal(m.size, 0)
  // A freed place of the youngest slot takes the next key of its id; an emptied slot takes none.
  m.set('f', 'w', 'w0', 10, 0)
  m.set('g', 'w', 'w1', 10, 1)
  t.equal(m.take('f', 'w', 0), 'w0')
  m.set('h', 'w', 'w2', 10, 0)
  t.same([m.get('g', 'w', 1), m.get('h', 'w', 0)], ['w1', 'w2'])
  m.delete('g', 'w', 1)
  m.delete('h', 'w', 0)
  t.equal(m.size, 0)
  m.set('i', 'w', 'w3', 10, 0)
  t.equal(m.get('i', 'w', 0), 'w3', 'an emptied slot is not written again: the key went to a new slot and the index found it')
  // An empty id is an id like any other.
  m.set('j', '', 'e0', 10, 0)
  m.set('k', '', 'e1', 10, 1)
  t.same([m.get('j', '', 0), m.get('k', '', 1)], ['e0', 'e1'])
})

t.test('KeyedSerial orders per key, survives a failure and forgets idle keys', async (t) => {
  const k = new KeyedSerial()
  const seen: string[] = []
  const failing = k.run('a', async () => {
    await new Promise((r) => setTimeout(r, 10))
    seen.push('a1')
    throw new Error('boom')
  })
  await Promise.all([
    t.rejects(failing, /boom/),
    k.run('b', () => seen.push('b1')),
    k.run('a', () => seen.push('a2'))
  ])
  t.same(seen, ['b1', 'a1', 'a2'], 'ordered per key, independent across keys, a failure does not stop the key')
  await new Promise((r) => setImmediate(r))
  t.equal(k.size, 0, 'no memory for idle keys')
})

t.test('KeyedSerial.submit runs synchronously while no key is busy and queues behind a busy key', async (t) => {
  const k = new KeyedSerial()
  const order: string[] = []
  let keyed = 0
  const key = () => (keyed++, 'a')
  t.equal(k.submit(key, () => { order.push('sync'); return 1 }), 1, 'a synchronous result comes back as it is')
  t.equal(keyed, 0, 'and needs no key')
  let release!: () => void
  const slow = k.submit(key, () => new Promise<void>((r) => { release = r }).then(() => { order.push('slow') }))
  t.ok(slow instanceof Promise, 'async work returns its promise')
  const after = k.submit(key, () => { order.push('after') })
  t.ok(after instanceof Promise, 'work behind a busy key is queued')
  t.same(order, ['sync'])
  release()
  await after
  t.same(order, ['sync', 'slow', 'after'])
})

for (const [cap, idCount, ownerCount] of [[8, 8, 3], [3, 5, 3], [61, 150, 3], [61, 4, 40]] as const) t.test(`TtlMap against a model (${cap} slots, ${idCount} ids, ${ownerCount} owners): never an expired or stale value, nothing young evicted, bounded`, async (t) => {
  // Random writes, re-sets, deletes, takes and reads on a small ring, in two spaces. The model remembers every key's
  // latest value, expiry and write number: an entry written fewer than `cap` writes ago that has
  // not expired must be there with its latest value; nothing else may come back wrong. Small
  // rings make the index wrap around and shift entries back on every other write; few ids under
  // many owners make long chains of one id's slots.
  let now = 0
  const m = new TtlMap<number>(cap, () => now)
  const model = new Map<string, { value: number; expiresAt: number; write: number }>()
  let writes = 0
  let state = 12345
  const rand = (n: number) => ((state = (state * 1103515245 + 12345) % 2 ** 31) % n)
  for (let step = 0; step < 20_000; step++) {
    const owner = `o${rand(ownerCount)}`
    const id = `k${rand(idCount)}`
    const space = rand(2)
    const key = `${space}:${owner}:${id}`
    const op = rand(10)
    now += rand(3)
    if (op < 4) {
      const ttl = 1 + rand(60)
      m.set(owner, id, step, ttl, space)
      model.set(key, { value: step, expiresAt: now + ttl, write: writes++ })
    } else if (op < 6) {
      const ttl = 1 + rand(60)
      const known = model.get(key)
      const fresh = known && known.expiresAt > now && writes - known.write < cap
      const set = m.setIfAbsent(owner, id, step, ttl, space)
      if (fresh && set) t.fail(`step ${step}: setIfAbsent overwrote a live key`)
      if (set) model.set(key, { value: step, expiresAt: now + ttl, write: writes++ })
    } else if (op < 7) {
      m.delete(owner, id, space)
      model.delete(key)
    } else {
      // take is get and delete in one step: checked like get, then the key is gone.
      const taking = rand(4) === 0
      const got = taking ? m.take(owner, id, space) : m.get(owner, id, space)
      const known = model.get(key)
      if (taking) model.delete(key)
      const fresh = known && known.expiresAt > now
      if (got !== undefined && !(fresh && got === known.value)) t.fail(`step ${step}: ${key} gave ${got}, expected ${fresh ? known.value : 'nothing'}`)
      if (fresh && writes - known.write < cap && got !== known.value) t.fail(`step ${step}: ${key} was evicted young`)
    }
    if (m.size > cap * 2) t.fail(`step ${step}: size ${m.size} over the cap (two keys per slot)`)
  }
  t.pass('20,000 random operations matched the model')
})
