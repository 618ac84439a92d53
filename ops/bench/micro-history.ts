// The SQLite history store alone (no sockets, no service): what one stored message costs when a
// commit carries `k` messages of each chat. The relay today commits one message per chat per
// commit (a pair's next MSG waits for the previous one's ack) and its delivered marks in a
// commit of their own; this shows what batching would save. 50 chats, uuid message ids, chats
// past HISTORY_MAX_PER_CHAT (1000) so every append also trims, as a store in use does.
//
//   npx tsx ops/bench/micro-history.ts [k] [marks: apart|along] [messages]
//     k       messages per chat in one commit (1: as the relay commits now)
//     apart   the delivered marks in a commit of their own after the appends (as now)
//     along   the marks queued with the next wave's appends, one commit for both
//
// Prints CPU and wall µs per message (wall includes the fsyncs of WAL checkpoints) and the bytes
// the process wrote per message (/proc/self/io wchar: the WAL and the checkpoints).
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqliteHistory } from '../../src/history/sqlite.ts'
import { processWriteBytes } from './lib/stats.ts'

const k = Number(process.argv[2] ?? 1)
const marks = process.argv[3] ?? 'apart'
const total = Number(process.argv[4] ?? 200_000)
if (!(k >= 1) || !['apart', 'along'].includes(marks)) throw new Error('usage: micro-history.ts [k ≥ 1] [apart|along] [messages]')

const dir = mkdtempSync(join(tmpdir(), 'micro-history-'))
const store = openSqliteHistory({ dir, limits: { maxPerChat: 1000, ttlS: 604_800 } })
const chats = Array.from({ length: 50 }, () => ({ id: `chat_${randomUUID()}`, a: randomUUID(), b: randomUUID() }))
let queued: { chat: string; to: string; seq: number }[] = []
let n = 0

/** One wave: k appends to every chat in one turn (one commit), then their delivered marks. */
async function wave(): Promise<void> {
  for (const m of queued) void store.markDelivered(m.chat, m.to, m.seq)
  queued = []
  const appends = []
  for (const c of chats) {
    for (let i = 0; i < k; i++) {
      appends.push(store.append({ chat_id: c.id, from: c.a, to: c.b, content: 'relay bench message 0123456789', message_id: randomUUID(), timestamp: new Date().toISOString() }))
    }
  }
  const done = await Promise.all(appends)
  n += done.length
  const delivered = done.map((d, i) => ({ chat: chats[Math.floor(i / k)]!.id, to: chats[Math.floor(i / k)]!.b, seq: d.message.seq }))
  if (marks === 'apart') await Promise.all(delivered.map((m) => store.markDelivered(m.chat, m.to, m.seq)))
  else queued = delivered
}

while (n < 60_000) await wave() // every chat past its 1000: appends trim from here on
n = 0
const cpu0 = process.cpuUsage()
const t0 = performance.now()
const w0 = processWriteBytes(process.pid)
const f0 = store.flushes
while (n < total) await wave()
const cpu = process.cpuUsage(cpu0)
const us = (x: number) => (x / n).toFixed(2)
process.stdout.write(`k=${k} marks ${marks}: CPU ${us(cpu.user + cpu.system)} µs/message, wall ${us((performance.now() - t0) * 1000)} µs/message, ` +
  `written ${((processWriteBytes(process.pid) - w0) / n).toFixed(0)} B/message, ${(n / (store.flushes - f0)).toFixed(1)} messages/commit\n`)
await store.close()
rmSync(dir, { recursive: true, force: true })
