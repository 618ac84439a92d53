// TtlMap (expiring, bounded) and the Serial/KeyedSerial queues.
import t from 'tap'
import { TtlMap } from '../../src/lib/ttl-map.ts'
import { KeyedSerial, Serial } from '../../src/lib/serial.ts'

t.test('TtlMap: entries expire, setIfAbsent is first-wins, take deletes, size is capped', async (t) => {
  let now = 0
  const m = new TtlMap<string, string>(3, () => now)
  t.equal(m.setIfAbsent('a', '1', 100), true)
  t.equal(m.setIfAbsent('a', '2', 100), false)
  t.equal(m.get('a'), '1')
  now = 100
  t.equal(m.get('a'), undefined, 'expired at its ttl')
  t.equal(m.setIfAbsent('a', '3', 100), true, 'claimable again')
  t.equal(m.take('a'), '3')
  t.equal(m.has('a'), false)
  for (const k of ['w', 'x', 'y', 'z']) m.set(k, k, 1000)
  t.equal(m.size, 3, 'the oldest goes past the cap')
  t.equal(m.get('w'), undefined)
  now = 5000
  m.set('fresh', 'f', 10)
  t.equal(m.size, 1, 'expired entries are swept on write')
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
