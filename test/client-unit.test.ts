// The client SDK's pure parts: the backoff formula, the presence map in both modes, ids, events.
import t from 'tap'
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, isUuidV4, PresenceMap, uuidv4 } from '../src/client/index.ts'
import { Emitter } from '../src/client/emitter.ts'

t.test('backoff: full jitter under min(cap, base · factor^attempt)', async (t) => {
  t.same(DEFAULT_BACKOFF, { baseMs: 500, factor: 2, capMs: 30_000 })
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(30_000, 500 * 2 ** attempt)
    t.equal(backoffCeiling(attempt), ceiling)
    t.equal(backoffDelay(attempt, DEFAULT_BACKOFF, () => 0), 0, `attempt ${attempt}: random 0 → no wait`)
    t.equal(backoffDelay(attempt, DEFAULT_BACKOFF, () => 0.5), Math.floor(ceiling / 2))
    t.ok(backoffDelay(attempt, DEFAULT_BACKOFF, () => 1 - Number.EPSILON) < ceiling, 'always below the ceiling')
  }
  t.equal(backoffCeiling(2000), 30_000, 'huge attempt counts stay at the cap')
  t.equal(backoffCeiling(3, { baseMs: 100, factor: 3, capMs: 10_000 }), 2700, 'other factors')
})

t.test('presence map: full lists replace, deltas patch, both report what changed', async (t) => {
  const a = { user_id: 'a', display_name: 'Alice', online: true }
  const b = { user_id: 'b', display_name: 'Bob', online: true }
  const full = new PresenceMap()
  t.same(full.applyFull([a, b]), [a, b], 'first list: everyone came')
  t.same(full.applyFull([a, b]), [], 'the same list: no change')
  t.same(full.applyFull([{ ...a, display_name: 'Alicia' }]), [{ ...b, online: false }, { ...a, display_name: 'Alicia' }], 'Bob left, Alice renamed')
  t.same([...full.users.keys()], ['a'])

  const delta = new PresenceMap()
  delta.applyFull([a])
  t.same(delta.applyDelta([b]), [b], 'Bob came')
  t.same(delta.applyDelta([b]), [], 'the same entry again changes nothing')
  t.same(delta.applyDelta([{ ...b, online: false }]), [{ ...b, online: false }], 'Bob left')
  t.same(delta.applyDelta([{ user_id: 'z', display_name: 'Zed', online: false }]), [], 'someone unknown leaving changes nothing')
  t.same([...delta.users.keys()], ['a'])
  const proto = new PresenceMap()
  proto.applyDelta([{ user_id: '__proto__', display_name: 'x', online: true }])
  t.equal(proto.users.get('__proto__')?.display_name, 'x', 'ids are Map keys, never object keys')
})

t.test('uuidv4: version 4, RFC variant, unique', async (t) => {
  const ids = new Set(Array.from({ length: 1000 }, () => uuidv4()))
  t.equal(ids.size, 1000)
  for (const id of ids) if (!isUuidV4(id)) t.fail(`not a UUID v4: ${id}`)
  t.notOk(isUuidV4('3f1c2b9e-8a47-1d2b-9c1e-5b7a2d4e6f80'), 'version 1 is refused')
  t.notOk(isUuidV4(undefined))
})

t.test('emitter: on, once, off', async (t) => {
  class E extends Emitter<{ n: number }> {
    fire(n: number) {
      this.emit('n', n)
    }
  }
  const e = new E()
  const all: number[] = []
  const first: number[] = []
  const off = e.on('n', (n) => all.push(n))
  e.once('n', (n) => first.push(n))
  e.fire(1)
  e.fire(2)
  off()
  e.fire(3)
  t.same(all, [1, 2])
  t.same(first, [1])
})
