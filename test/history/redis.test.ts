// The Redis history store against a private redis-server (never the system one): the shared
// contract, with a flushed server per store and a second RedisHistory on the same server as the
// reopen; then what only Redis has to prove: two instances appending to one chat at once share
// one gap-free log, and trimming keeps the stream and its dedupe hash bounded and in step.
import t from 'tap'
import { chatId } from '../../src/chat/chats.ts'
import { RedisHistory } from '../../src/history/redis.ts'
import { HistoryKeys } from '../../src/history/redis-scripts.ts'
import type { Appended, HistoryLimits, NewMessage } from '../../src/history/store.ts'
import { startRedis } from '../helpers/redis.ts'
import { historyContract } from './contract.ts'

const log = { debug() {}, info() {}, warn() {}, error() {} }

const redis = await startRedis()
t.teardown(() => redis.close())
const admin = redis.client()

const connect = (limits: HistoryLimits) => RedisHistory.connect({ url: redis.url, limits, log })

t.test('contract', async (t) => {
  historyContract(
    t,
    async (limits) => {
      await admin.flushall()
      return connect(limits)
    },
    { reopen: connect }
  )
})

const A = 'alice'
const B = 'bob'
const AB = chatId(A, B)
let n = 0
const msg = (from: string, to: string): NewMessage => ({
  chat_id: chatId(from, to),
  from,
  to,
  content: `text ${++n}`,
  message_id: `r${n}`,
  timestamp: new Date().toISOString()
})

t.test('two instances appending to one chat at once share one gap-free seq', async (t) => {
  await admin.flushall()
  const limits = { maxPerChat: 1000, ttlS: 3600 }
  const one = await connect(limits)
  const two = await connect(limits)
  t.teardown(async () => {
    await one.close()
    await two.close()
  })
  // Each instance also retries some of its own messages, as a client resending after a lost ack.
  const mine = (store: RedisHistory, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const m = msg(i % 2 ? A : B, i % 2 ? B : A)
      return i % 10 === 0 ? Promise.all([store.append(m), store.append(m)]).then(([a]) => a) : store.append(m)
    })
  const results = await Promise.all([...mine(one, 300), ...mine(two, 300)])
  t.equal(new Set(results.map((r) => r.epoch)).size, 1, 'one epoch')
  const seqs = results.map((r) => r.message.seq).sort((x, y) => x - y)
  t.strictSame(seqs, Array.from({ length: 600 }, (_, i) => i + 1), 'every message once, seq 1..600')
  const page = await one.page(AB, { after_seq: 0, limit: 100 })
  t.equal(page?.last_seq, 600)
  t.equal(await admin.xlen(HistoryKeys.stream(AB)), 600)
  t.equal(await admin.hlen(HistoryKeys.dedupe(AB)), 600)
})

t.test('trimming keeps the stream at maxPerChat and the dedupe hash in step with it', async (t) => {
  await admin.flushall()
  const limits = { maxPerChat: 7, ttlS: 3600 }
  const store = await connect(limits)
  t.teardown(() => store.close())
  for (let i = 1; i <= 40; i++) {
    await store.append(msg(i % 3 ? A : B, i % 3 ? B : A))
    const len = await admin.xlen(HistoryKeys.stream(AB))
    t.ok(len <= limits.maxPerChat, `stream length ${len} after append ${i}`)
    t.equal(await admin.hlen(HistoryKeys.dedupe(AB)), len, 'dedupe hash length equals stream length')
  }
  // Every key of the chat and of its participants expires ttlS after the last append.
  for (const key of [HistoryKeys.stream(AB), HistoryKeys.dedupe(AB), HistoryKeys.meta(AB), HistoryKeys.chats(A), HistoryKeys.chats(B)]) {
    const ttl = await admin.ttl(key)
    t.ok(ttl > 3590 && ttl <= 3600, `${key} expires in ${ttl} s`)
  }
  // A smaller limit on a later open trims an existing log down at its next append.
  const smaller = await connect({ maxPerChat: 3, ttlS: 3600 })
  t.teardown(() => smaller.close())
  await smaller.append(msg(A, B))
  t.equal(await admin.xlen(HistoryKeys.stream(AB)), 3)
  t.equal(await admin.hlen(HistoryKeys.dedupe(AB)), 3)
  t.equal((await smaller.page(AB, { limit: 100 }))?.first_seq, 39)
})

/** Append until the store answers again (Redis back, reconnected by itself): at most 5 s. */
async function appendOnceBack(store: RedisHistory): Promise<Appended | undefined> {
  for (let i = 0; i < 50; i++) {
    const after = await store.append(msg(A, B)).catch(() => undefined)
    if (after) return after
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return undefined
}

t.test('a store opened while Redis is away fails its calls at once, and works once Redis is there', async (t) => {
  const own = await startRedis()
  t.teardown(() => own.close())
  await own.stop()
  const store = await RedisHistory.connect({ url: own.url, limits: { maxPerChat: 10, ttlS: 60 }, log, connectWaitMs: 200 })
  t.teardown(() => store.close())
  const started = Date.now()
  await t.rejects(store.append(msg(A, B)), 'no Redis: the call fails')
  t.ok(Date.now() - started < 500, 'at once')
  await own.start()
  const after = await appendOnceBack(store)
  t.equal(after?.message.seq, 1, 'Redis came: the store connected by itself')
})

t.test('while Redis is away calls fail at once; when it returns empty, logs start under a new epoch', async (t) => {
  const own = await startRedis()
  t.teardown(() => own.close())
  const store = await RedisHistory.connect({ url: own.url, limits: { maxPerChat: 10, ttlS: 60 }, log })
  t.teardown(() => store.close())
  const before = await store.append(msg(A, B))
  await own.stop()
  const started = Date.now()
  await t.rejects(store.append(msg(A, B)))
  t.ok(Date.now() - started < 500, 'no offline queue: rejected without waiting')
  await own.start()
  const after = await appendOnceBack(store)
  t.equal(after?.message.seq, 1, 'the lost log starts again at 1')
  t.not(after?.epoch, before.epoch, 'under a new epoch, so clients drop what they remembered')
})
