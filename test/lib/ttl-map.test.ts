// TtlMap (expiring, bounded) and the Serial/KeyedSerial queues.
import t from 'tap'
import { TtlMap } from '../../src/lib/ttl-map.ts'
import { KeyedSerial, Serial } from '../../src/lib/serial.ts'

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

t.test('Serial runs in order and survives a failure; KeyedSerial forgets idle keys', async (t) => {
  const s = new Serial()
  const order: number[] = []
  const slow = s.run(async () => {
    await new Promise((r) => setTimeout(r, 20))
    order.push(1)
  })
  const failing = s.run(() => {
    throw new Error('boom')
  })
  const fast = s.run(() => order.push(3))
  await slow
  await t.rejects(failing, /boom/)
  await fast
  t.same(order, [1, 3])

  const k = new KeyedSerial()
  const seen: string[] = []
  await Promise.all([
    k.run('a', async () => { await new Promise((r) => setTimeout(r, 10)); seen.push('a1') }),
    k.run('b', () => seen.push('b1')),
    k.run('a', () => seen.push('a2'))
  ])
  t.same(seen, ['b1', 'a1', 'a2'], 'ordered per key, independent across keys')
  await new Promise((r) => setImmediate(r))
  t.equal(k.size, 0, 'no memory for idle keys')
})

t.test('Serial.submit runs synchronously when idle and queues behind pending work', async (t) => {
  const s = new Serial()
  const order: string[] = []
  t.equal(s.submit(() => { order.push('sync') }), undefined, 'a synchronous result costs no promise')
  t.same(order, ['sync'], 'ran at once')
  let release!: () => void
  const slow = s.submit(() => new Promise<void>((r) => { release = r }).then(() => { order.push('slow') }))
  t.ok(slow instanceof Promise, 'async work returns its promise')
  t.notOk(s.idle)
  const after = s.submit(() => { order.push('after') })
  t.ok(after instanceof Promise, 'work behind pending work is queued')
  t.same(order, ['sync'])
  release()
  await after
  t.same(order, ['sync', 'slow', 'after'])
  await new Promise((r) => setImmediate(r))
  t.ok(s.idle)
})

t.test('TtlMap against a model: never an expired or stale value, nothing young evicted, bounded', async (t) => {
  // Random writes, re-sets, deletes, takes and reads on a small ring, in two spaces. The model remembers every key's
  // latest value, expiry and write number: an entry written fewer than `cap` writes ago that has
  // not expired must be there with its latest value; nothing else may come back wrong.
  const cap = 8
  let now = 0
  const m = new TtlMap<number>(cap, () => now)
  const model = new Map<string, { value: number; expiresAt: number; write: number }>()
  let writes = 0
  let state = 12345
  const rand = (n: number) => ((state = (state * 1103515245 + 12345) % 2 ** 31) % n)
  for (let step = 0; step < 20_000; step++) {
    const owner = `o${rand(3)}`
    const id = `k${rand(8)}`
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
    if (m.size > cap) t.fail(`step ${step}: size ${m.size} over the cap`)
  }
  t.pass('20,000 random operations matched the model')
})
