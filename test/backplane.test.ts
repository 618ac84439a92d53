// The Backplane contract, without sockets: the same assertions against MemoryBackplane (several
// instances on one hub, the reference semantics) and RedisBackplane (several instances on one
// real Redis), rate limiters and fan-outs included. Then what only Redis has: leases of dead
// instances, a receiver that never answers, and who is online after Redis lost its data.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Backplane, BackplaneHandlers, Delivery, PresenceChange } from '../src/backplane/backplane.ts'
import { connRef } from '../src/backplane/backplane.ts'
import { MemoryBackplane, MemoryHub } from '../src/backplane/memory.ts'
import { RedisBackplane, leaseTimings } from '../src/backplane/redis.ts'
import { Channels } from '../src/backplane/redis-scripts.ts'
import { startRedis } from './helpers/redis.ts'
import { waitUntil } from './helpers/walkers.ts'

const silent = { debug() {}, info() {}, warn() {}, error() {} }

/** Poll an async condition until it holds. */
async function eventually(check: () => Promise<boolean>, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Handlers that record presence events and stand in for connections. */
class Node implements BackplaneHandlers {
  readonly events: PresenceChange[] = []
  /** user → connection ids on this instance; frames per connection id. */
  readonly conns = new Map<string, string[]>()
  readonly frames = new Map<string, string[]>()
  /** Every delivery's label and droppable flag as it arrived: `MSG/0`. */
  readonly kinds: string[] = []

  constructor(readonly backplane: Backplane) {}

  presence(change: PresenceChange): void {
    this.events.push(change)
  }

  deliver(userId: string, d: Delivery): number {
    this.kinds.push(`${d.label}/${d.droppable ? 1 : 0}`)
    let taken = 0
    for (const id of this.conns.get(userId) ?? []) {
      if (connRef(this.backplane.instanceId, id) === d.except) continue
      this.frames.get(id)!.push(d.frame)
      taken++
    }
    return taken
  }

  /** A connection of `userId` on this instance. */
  connect(userId: string, connId = randomUUID()): string {
    this.conns.set(userId, [...(this.conns.get(userId) ?? []), connId])
    this.frames.set(connId, [])
    return connId
  }

  sawEvent(c: PresenceChange): Promise<unknown> {
    return waitUntil(() => this.events.some((e) => e.user_id === c.user_id && e.online === c.online && e.display_name === c.display_name),
      `${JSON.stringify(c)} on ${this.backplane.instanceId}`, 3000)
  }
}

interface Kind {
  name: string
  /** A fresh shared store; `instance()` adds an instance to it. */
  cluster(t: Test): Promise<{
    instance(opts?: { instanceTtlS?: number; replyTimeoutMs?: number }): Promise<Node>
    /** Instances subscribed to a bus channel, where there is a bus. */
    subscribers?(channel: string): Promise<number>
  }>
}

const kinds: Kind[] = [
  {
    name: 'memory',
    async cluster() {
      const hub = new MemoryHub()
      return {
        async instance() {
          const b = new MemoryBackplane(hub)
          const node = new Node(b)
          await b.attach(node)
          return node
        }
      }
    }
  },
  {
    name: 'redis',
    async cluster(t) {
      const redis = await startRedis()
      t.teardown(redis.close)
      let inspector: Redis | undefined
      return {
        async subscribers(channel) {
          inspector ??= redis.client()
          const [, count] = (await inspector.pubsub('NUMSUB', channel)) as [string, number]
          return count
        },
        async instance(opts = {}) {
          const b = await RedisBackplane.connect({ url: redis.url, instanceTtlS: opts.instanceTtlS ?? 15, replyTimeoutMs: opts.replyTimeoutMs, log: silent })
          t.teardown(() => b.close())
          const node = new Node(b)
          await b.attach(node)
          return node
        }
      }
    }
  }
]

for (const kind of kinds) {
  t.test(`${kind.name}: presence is one entry per user across instances, in arrival order`, async (t) => {
    const cluster = await kind.cluster(t)
    const a = await cluster.instance()
    const b = await cluster.instance()
    const [alice, bob] = [randomUUID(), randomUUID()]

    t.equal(await a.backplane.presence.join({ user_id: alice, display_name: 'Alice' }), true, 'came online')
    t.equal(await b.backplane.presence.lookup(alice), 'Alice', 'another instance can look her up at once')
    t.equal(await b.backplane.presence.lookup(randomUUID()), undefined)
    await b.sawEvent({ user_id: alice, display_name: 'Alice', online: true })
    await a.sawEvent({ user_id: alice, display_name: 'Alice', online: true })
    t.equal(await b.backplane.presence.join({ user_id: bob, display_name: 'Bob' }), true)
    t.equal(await b.backplane.presence.join({ user_id: alice, display_name: 'Alice' }), false, 'Alice on a second instance: no change')
    const both = [{ user_id: alice, display_name: 'Alice' }, { user_id: bob, display_name: 'Bob' }]
    t.same(await a.backplane.presence.list(), both)
    t.same(await b.backplane.presence.list(), both)

    t.equal(await b.backplane.presence.join({ user_id: alice, display_name: 'Alice C' }), true, 'a rename from any instance')
    await a.sawEvent({ user_id: alice, display_name: 'Alice C', online: true })
    t.same((await a.backplane.presence.list()).map((u) => u.display_name), ['Alice C', 'Bob'], 'a rename keeps the place')

    t.equal(await a.backplane.presence.leave(alice), false, 'still held by b')
    t.equal(await a.backplane.presence.leave(alice), false, 'leaving twice changes nothing')
    t.equal(await b.backplane.presence.leave(alice), true, 'the last instance: offline')
    await a.sawEvent({ user_id: alice, display_name: 'Alice C', online: false })
    t.same(await a.backplane.presence.list(), [{ user_id: bob, display_name: 'Bob' }])
    t.equal(a.events.filter((e) => e.user_id === alice).length, 3, 'online, renamed, offline: nothing else')

    await b.backplane.close()
    await a.sawEvent({ user_id: bob, display_name: 'Bob', online: false })
    t.same(await a.backplane.presence.list(), [], 'a closed instance\'s users leave')
  })

  t.test(`${kind.name}: chats are unordered pairs, the same from every instance`, async (t) => {
    const cluster = await kind.cluster(t)
    const a = await cluster.instance()
    const b = await cluster.instance()
    const [x, y, z] = [randomUUID(), randomUUID(), randomUUID()]
    await a.backplane.presence.join({ user_id: x, display_name: 'Xavier' })
    await b.backplane.presence.join({ user_id: y, display_name: 'Yvonne' })
    t.equal(await a.backplane.chats.open(x, y), true)
    t.equal(await b.backplane.chats.open(y, x), false, 'already open, whoever asks')
    t.equal(await b.backplane.chats.isOpen(x, y), true)
    t.equal(await a.backplane.chats.isOpen(y, x), true)
    t.equal(await a.backplane.chats.isOpen(x, z), false)
    await a.backplane.chats.open(x, z)
    t.same((await b.backplane.chats.partners(x)).sort(), [y, z].sort())
    await b.backplane.chats.close(y, x)
    t.equal(await a.backplane.chats.isOpen(x, y), false, 'closed on b, closed on a')
    t.same(await a.backplane.chats.partners(y), [])
  })

  t.test(`${kind.name}: keys are set-if-absent, get-and-delete, and expire`, async (t) => {
    const cluster = await kind.cluster(t)
    const a = await cluster.instance()
    const b = await cluster.instance()
    const u = randomUUID()
    t.equal(await a.backplane.keys.claim('dedupe', u, 'm1', '1', 60_000), true)
    t.equal(await b.backplane.keys.claim('dedupe', u, 'm1', '1', 60_000), false, 'claimed from another instance')
    t.equal(await b.backplane.keys.claim('dedupe', randomUUID(), 'm1', '1', 60_000), true, 'per owner')
    t.equal(await b.backplane.keys.claim('receipt', u, 'm1', '1', 60_000), true, 'per space')
    await b.backplane.keys.delete('dedupe', u, 'm1')
    t.equal(await a.backplane.keys.claim('dedupe', u, 'm1', '1', 60_000), true, 'free again after delete')
    await a.backplane.keys.put('receipt', 'r', 'm', 'sender', 60_000)
    t.equal(await b.backplane.keys.take('receipt', 'r', 'm'), 'sender')
    t.equal(await a.backplane.keys.take('receipt', 'r', 'm'), undefined, 'taken once')
    t.equal(await a.backplane.keys.claim('dedupe', u, 'short', '1', 50), true)
    await new Promise((r) => setTimeout(r, 120))
    t.equal(await b.backplane.keys.claim('dedupe', u, 'short', '1', 50), true, 'expired')
  })

  t.test(`${kind.name}: deliver counts the connections that took a frame, on every instance`, async (t) => {
    const cluster = await kind.cluster(t)
    const a = await cluster.instance()
    const b = await cluster.instance()
    const bob = randomUUID()
    const [a1, a2] = [a.connect(bob), a.connect(bob)]
    const b1 = b.connect(bob)
    await a.backplane.presence.join({ user_id: bob, display_name: 'Bob' })
    await b.backplane.presence.join({ user_id: bob, display_name: 'Bob' })

    t.equal(await a.backplane.deliver(bob, { frame: 'f1', label: 'MSG', droppable: false }), 3, 'two here, one there')
    t.equal(await b.backplane.deliver(bob, { frame: 'f2', label: 'TYPING', droppable: true }), 3, 'from the other side too')
    t.equal(await b.backplane.deliver(bob, { frame: 'f3', label: 'MSG', droppable: false, except: connRef(a.backplane.instanceId, a1) }), 2, 'except a connection on another instance')
    t.same([a.frames.get(a1), a.frames.get(a2), b.frames.get(b1)], [['f1', 'f2'], ['f1', 'f2', 'f3'], ['f1', 'f2', 'f3']], 'in order, the exact strings')
    t.same([a.kinds, b.kinds], [['MSG/0', 'TYPING/1', 'MSG/0'], ['MSG/0', 'TYPING/1', 'MSG/0']], 'the label and droppable flag travel with the frame')
    t.equal(await a.backplane.deliver(randomUUID(), { frame: 'x', label: 'MSG', droppable: false }), 0, 'nobody holds the user')
  })

  t.test(`${kind.name}: a limiter counts a name's points on every instance, per key`, async (t) => {
    const cluster = await kind.cluster(t)
    const a = await cluster.instance()
    const b = await cluster.instance()
    const name = `test_${randomUUID()}`
    const [la, lb] = [a.backplane.limiter(name, 2, 60), b.backplane.limiter(name, 2, 60)]
    const u = randomUUID()
    t.same([await la.consume(u), await lb.consume(u)], [0, 0])
    const wait = await la.consume(u)
    t.ok(wait > 59_000 && wait <= 60_000, `the third, from either instance, waits for the window (${wait} ms)`)
    t.equal(await lb.consume(randomUUID()), 0, 'per key')
    if (kind.name === 'memory') t.equal(typeof la.consume(randomUUID()), 'number', 'in memory: synchronous')
  })

  t.test(`${kind.name}: a fan-out reaches a topic's subscribers on every instance, each once`, async (t) => {
    const cluster = await kind.cluster(t)
    const a = await cluster.instance()
    const b = await cluster.instance()
    t.equal(a.backplane.fanout('walker'), a.backplane.fanout('walker'), 'one per space')
    const [fa, fb] = [a.backplane.fanout('walker'), b.backplane.fanout('walker')]
    const [onA, onB, other] = [[] as string[], [] as string[], [] as string[]]
    fa.subscribe('topic', (f) => onA.push(f))
    const unsubscribeB = fb.subscribe('topic', (f) => onB.push(f))
    fb.subscribe('other', (f) => other.push(f))
    // SUBSCRIBE goes out in the background; a frame published before it lands is lost.
    if (cluster.subscribers) await eventually(async () => (await cluster.subscribers!(`${Channels.walker}topic`)) === 2, 'both instances subscribed')
    fa.publish('topic', 'one')
    t.same(onA, ['one'], 'the publisher\'s own subscribers before publish returns')
    await waitUntil(() => onB.length === 1, 'the frame on the other instance')
    fb.publish('topic', 'two')
    await waitUntil(() => onA.length === 2, 'the reply on the first')
    unsubscribeB()
    fa.publish('topic', 'three')
    // Frames from one instance arrive in order: once the marker is there, 'three' would be too.
    fa.publish('other', 'marker')
    await waitUntil(() => other.length === 1, 'the marker on the other instance')
    t.same([onA, onB, other], [['one', 'two', 'three'], ['one', 'two'], ['marker']], 'in order, once each, only to subscribers')
  })
}

t.test('redis: users of an instance that stops renewing its lease leave within INSTANCE_TTL_S', async (t) => {
  const cluster = await kinds[1]!.cluster(t)
  const ttlS = 1
  const a = await cluster.instance({ instanceTtlS: ttlS })
  const b = await cluster.instance({ instanceTtlS: ttlS })
  const bob = randomUUID()
  b.connect(bob)
  await b.backplane.presence.join({ user_id: bob, display_name: 'Bob' })
  await a.sawEvent({ user_id: bob, display_name: 'Bob', online: true })
  // Dead without a goodbye: the connections drop, nothing retires the instance.
  const died = Date.now()
  await (b.backplane as RedisBackplane).link.close()
  await a.sawEvent({ user_id: bob, display_name: 'Bob', online: false })
  const took = Date.now() - died
  t.ok(took <= ttlS * 1000 + 200, `gone after ${took} ms (INSTANCE_TTL_S ${ttlS} s; lease ${leaseTimings(ttlS).leaseMs} ms + sweep ${leaseTimings(ttlS).tickMs} ms)`)
  t.same(await a.backplane.presence.list(), [])
  t.equal(await a.backplane.deliver(bob, { frame: 'x', label: 'MSG', droppable: false }), 0)
})

t.test('redis: a receiver that never answers counts as zero after the reply timeout, never as a delivery', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const a = await RedisBackplane.connect({ url: redis.url, instanceTtlS: 15, replyTimeoutMs: 300, log: silent })
  t.teardown(() => a.close())
  const node = new Node(a)
  await a.attach(node)
  const bob = randomUUID()
  // A subscriber that takes the frame off the channel and says nothing: a stuck instance.
  const mute = new Redis(redis.url)
  t.teardown(() => mute.disconnect())
  await mute.subscribe(Channels.user + bob)
  const started = Date.now()
  t.equal(await a.deliver(bob, { frame: 'hello', label: 'MSG', droppable: false }), 0, 'no connection confirmed it')
  t.ok(Date.now() - started >= 280, 'waited for the timeout')
  const here = node.connect(bob)
  await a.presence.join({ user_id: bob, display_name: 'Bob' })
  t.equal(await a.deliver(bob, { frame: 'hi', label: 'MSG', droppable: false }), 1, 'the local connection counts; the mute one does not')
  t.same(node.frames.get(here), ['hi'])
})

t.test('redis: after Redis restarts empty, every instance registers its users and chats again', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const make = async () => {
    const b = await RedisBackplane.connect({ url: redis.url, instanceTtlS: 2, log: silent })
    t.teardown(() => b.close())
    const node = new Node(b)
    await b.attach(node)
    return node
  }
  const [a, b] = [await make(), await make()]
  const [alice, bob] = [randomUUID(), randomUUID()]
  a.connect(alice)
  b.connect(bob)
  await a.backplane.presence.join({ user_id: alice, display_name: 'Alice' })
  await b.backplane.presence.join({ user_id: bob, display_name: 'Bob' })
  await a.backplane.chats.open(alice, bob)
  await redis.stop()
  await waitUntil(() => !a.backplane.healthy && !b.backplane.healthy, 'both instances to notice')
  t.equal(await a.backplane.deliver(bob, { frame: 'x', label: 'MSG', droppable: false }), 0, 'no way to reach Bob meanwhile')
  t.equal(await a.backplane.chats.isOpen(alice, bob), true, 'the chat is remembered where Alice is')
  await redis.start()
  await waitUntil(() => a.backplane.healthy && b.backplane.healthy, 'both instances to reconnect', 5000)
  await eventually(async () => (await a.backplane.presence.list()).length === 2, 'both users registered again')
  const users = await b.backplane.presence.list()
  t.same(users.map((u) => u.user_id).sort(), [alice, bob].sort())
  t.equal(await b.backplane.chats.isOpen(bob, alice), true, 'Alice\'s instance registered the chat again')
  t.equal(await a.backplane.deliver(bob, { frame: 'back', label: 'MSG', droppable: false }), 1)
})

t.test('config: REDIS_URL must be a redis:// or rediss:// URL, INSTANCE_TTL_S at least 1 s', async (t) => {
  const { loadConfig } = await import('../src/config.ts')
  t.throws(() => loadConfig({ REDIS_URL: 'localhost:6379' }), /^REDIS_URL=localhost:6379: /)
  t.equal(loadConfig({ REDIS_URL: 'rediss://user:pw@redis.internal:6380/2' }).REDIS_URL, 'rediss://user:pw@redis.internal:6380/2')
  t.throws(() => loadConfig({ INSTANCE_TTL_S: '0.5' }), /^INSTANCE_TTL_S=0\.5: /)
  t.equal(loadConfig({}).INSTANCE_TTL_S, 15)
})
