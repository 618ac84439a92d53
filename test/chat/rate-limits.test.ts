// WindowCounter (the in-process limiter) and RateLimits over both kinds of limiter.
import t from 'tap'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { RateLimits } from '../../src/chat/rate-limits.ts'
import { WindowCounter } from '../../src/lib/window-counter.ts'
import { FlexibleLimiter } from '../../src/backplane/flexible-limiter.ts'

t.test('WindowCounter: exact within a window, a fresh window after it, per key, closed windows dropped', async (t) => {
  let now = 1_000
  const c = new WindowCounter(3, 60_000, () => now)
  t.same([c.consume('a'), c.consume('a'), c.consume('a')], [0, 0, 0], 'three allowed')
  now += 10_000
  t.equal(c.consume('a'), 50_000, 'the fourth waits for the window to close')
  t.equal(c.consume('b'), 0, 'another key has its own window')
  now += 49_999
  t.equal(c.consume('a'), 1, 'still closed 1 ms before the end')
  now += 1
  t.equal(c.consume('a'), 0, 'a new window opens at its end')
  t.equal(c.consume('a'), 0)
  t.equal(c.size, 2)
  now += 60_000 + 1_000
  c.consume('c')
  t.equal(c.size, 1, 'closed windows are dropped in passing')
})

t.test('RateLimits answers the same through WindowCounter and rate-limiter-flexible', async (t) => {
  const sync = new RateLimits({ msg: new WindowCounter(5, 60_000), typing: new WindowCounter(1, 60_000) })
  const lib = new RateLimits({
    msg: new FlexibleLimiter(new RateLimiterMemory({ keyPrefix: 'm', points: 5, duration: 60 })),
    typing: new FlexibleLimiter(new RateLimiterMemory({ keyPrefix: 't', points: 1, duration: 60 }))
  })
  const run = async (limits: RateLimits) => {
    const out: boolean[] = []
    for (let i = 0; i < 7; i++) out.push((await limits.consume('msg', 'u')) === 0)
    out.push((await limits.consume('typing', 'u')) === 0, (await limits.consume('typing', 'u')) === 0)
    return out
  }
  const expected = [true, true, true, true, true, false, false, true, false]
  t.same(await run(sync), expected)
  t.same(await run(lib), expected)
  const wait = sync.consume('msg', 'u')
  t.equal(typeof wait, 'number', 'WindowCounter answers synchronously')
  t.ok((wait as number) > 59_000 && (wait as number) <= 60_000, `retry after ~60 s (${String(wait)} ms)`)
})

t.test('FlexibleLimiter passes a store error on rather than letting everyone through', async (t) => {
  const failing = new RateLimiterMemory({ points: 1, duration: 60 })
  failing.consume = () => Promise.reject(new Error('store down'))
  await t.rejects(new FlexibleLimiter(failing).consume('u'), /store down/)
})
