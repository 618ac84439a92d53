// In-process cost of one FastChat MSG through the domain (no sockets): parse, check, dispatch
// over the in-memory backplane, frames handed to peers that only count them. For iterating on
// the relay's CPU per message without the noise of a shared machine's TCP path.
//   npx tsx ops/bench/micro-relay.ts [messages]
import { randomUUID } from 'node:crypto'
import { MemoryBackplane, MemoryHub } from '../../src/backplane/memory.ts'
import { Presence } from '../../src/chat/presence.ts'
import { RateLimits } from '../../src/chat/rate-limits.ts'
import { WindowCounter } from '../../src/lib/window-counter.ts'
import { LocalHub } from '../../src/chat/hub.ts'
import { ChatService } from '../../src/chat/service.ts'
import type { ChatPeer } from '../../src/chat/session.ts'
import { checkClientMessage, isClientType } from '../../src/protocol/fastchat.ts'
import { parseJson } from '../../src/lib/json.ts'

const total = Number(process.argv[2] ?? 400_000)
let frames = 0
const peer = (id: string): ChatPeer => ({ id, send: () => (frames++, true), sendDroppable: () => (frames++, true), close: () => {}, fail: () => {} })

const backplane = new MemoryBackplane(new MemoryHub())
const presence = new Presence(backplane, { debounceMs: 10 }, new LocalHub())
await presence.start()
const limits = new RateLimits({
  msg: new WindowCounter(1e9, 60_000),
  typing: new WindowCounter(1e9, 60_000)
})
const chat = new ChatService(backplane, presence, limits, { enabled: false, verify: async () => null }, { authRequired: false })

const pairs = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
  const [a, b] = [randomUUID(), randomUUID()]
  const sa = chat.session(peer(`a${i}`))
  const sb = chat.session(peer(`b${i}`))
  await chat.dispatch(sb, { type: 'HELLO', data: { user_id: b, display_name: `Recipient ${i}` } })
  await chat.dispatch(sa, { type: 'HELLO', data: { user_id: a, display_name: `Sender ${i}` } })
  await chat.dispatch(sa, { type: 'OPEN_CHAT', data: { target_user_id: b } })
  return { sa, b }
}))

let seq = 0
async function round(): Promise<void> {
  const work: unknown[] = []
  for (let k = 0; k < 10; k++) {
    for (const { sa, b } of pairs) {
      const text = `{"type":"MSG","data":{"to":"${b}","content":"relay bench message 0123456789","message_id":"m-${seq++}-0000000000"}}`
      const parsed = parseJson(text)
      const msg = parsed.ok ? (parsed.value as Record<string, unknown>) : {}
      if (!isClientType(msg.type)) throw new Error('not a client type')
      const checked = checkClientMessage({ ...msg, type: msg.type })
      if (!checked.ok) throw new Error(JSON.stringify(checked.errors))
      work.push(chat.dispatch(sa, checked.message))
    }
  }
  await Promise.all(work)
}

async function measure(n: number): Promise<number> {
  const cpu = process.cpuUsage()
  for (let i = 0; i < n / 500; i++) await round()
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / n
}

await measure(100_000) // warm-up
const results: number[] = []
for (let r = 0; r < 5; r++) results.push(await measure(total / 5))
results.sort((x, y) => x - y)
process.stdout.write(`µs of CPU per MSG (median of 5): ${results[2]!.toFixed(2)}  [${results.map((x) => x.toFixed(2)).join(' ')}]  frames ${frames}\n`)
presence.stop()
await backplane.close()
