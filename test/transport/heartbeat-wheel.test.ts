// The heartbeat wheel: its dimensions (ticks ~100 ms apart, so a pass pings a small share of the
// connections: a pass of a tenth held a 15k-connection instance's loop for ~36 ms,
// docs/capacity.md), and that connections joining at different times are pinged in different
// passes, each once per interval, and a silent one expires after interval + timeout.
import t from 'tap'
import { HeartbeatWheel, wheelShape, type Beating } from '../../src/transport/heartbeat-wheel.ts'

t.test('dimensions: ~100 ms ticks, 10 to 600 slots, the timeout in whole ticks', async (t) => {
  t.same(wheelShape(30, 10), { slots: 300, tickMs: 100, timeoutSlots: 100 }, 'the default: 1/300 of the connections per pass')
  t.same(wheelShape(1, 0.5), { slots: 10, tickMs: 100, timeoutSlots: 5 })
  t.same(wheelShape(0.3, 0.1), { slots: 10, tickMs: 30, timeoutSlots: 4 }, 'short intervals keep 10 slots')
  t.same(wheelShape(3600, 10), { slots: 600, tickMs: 6000, timeoutSlots: 2 }, 'long intervals: at most 600 slots')
  t.same(wheelShape(2, 1.95), { slots: 20, tickMs: 100, timeoutSlots: 20 })
})

class Item implements Beating {
  awaitingPong = false
  wheelSlot: number | undefined
  beats: number[] = []
  expired = 0
  constructor(readonly answers: boolean) {}
  beat(): void {
    this.beats.push(performance.now())
    this.awaitingPong = !this.answers
  }
  expire(): void {
    this.expired++
  }
}

t.test('spread: items that joined 100 ms apart are pinged in different passes, once per interval', async (t) => {
  const wheel = new HeartbeatWheel<Item>(1, 0.5)
  t.teardown(() => wheel.stop())
  const items: Item[] = []
  const passes: number[] = []
  for (let i = 0; i < 10; i++) {
    const item = new Item(true)
    items.push(item)
    wheel.add(item)
    await new Promise((r) => setTimeout(r, 100))
  }
  await new Promise((r) => setTimeout(r, 1500))
  for (const item of items) {
    t.ok(item.beats.length >= 1 && item.beats.length <= 3, `pinged once per interval (${item.beats.length} in ~1.5–2.5 s)`)
    passes.push(...item.beats.map((at) => Math.round(at / 50)))
  }
  const perPass = new Map<number, number>()
  for (const p of passes) perPass.set(p, (perPass.get(p) ?? 0) + 1)
  t.ok(Math.max(...perPass.values()) <= 3, `no pass pings more than a few of the ten (max ${Math.max(...perPass.values())})`)
  t.equal(items.reduce((n, i) => n + i.expired, 0), 0, 'answering items never expire')
})

t.test('a silent item expires one timeout after its ping; removed items are left alone', async (t) => {
  const wheel = new HeartbeatWheel<Item>(0.5, 0.2)
  t.teardown(() => wheel.stop())
  const silent = new Item(false)
  const removed = new Item(false)
  wheel.add(silent)
  wheel.add(removed)
  wheel.remove(removed)
  await new Promise((r) => setTimeout(r, 900))
  t.ok(silent.beats.length >= 1, 'pinged')
  t.ok(silent.expired >= 1, 'expired after interval + timeout (0.7 s)')
  t.same([removed.beats.length, removed.expired], [0, 0], 'a removed item is neither pinged nor expired')
})
