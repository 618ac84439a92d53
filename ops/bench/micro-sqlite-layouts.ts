// The history relay's SQLite cost is mostly its statements: per stored message a row insert into
// the chat's B-tree, per chat and commit a trim of the oldest rows, then the commit's WAL frames
// (docs/bench.md, "Other layouts for the message rows"). This measures, with better-sqlite3
// alone, what the message rows would cost in other layouts, in the relay's commit shape: 50 chats
// past their retention (1,000), k messages per chat per commit, uuid ids, ~30-byte contents.
//
//   npx tsx ops/bench/micro-sqlite-layouts.ts [--k 5] [--rounds 7] [--commits 300]
//
//   chat-tree  the store's own: (chat, seq) WITHOUT ROWID, insert, then trim each chat per commit
//   log        an append-only rowid log moved into chat-tree every 4,000 rows (one INSERT…SELECT
//              sorted by chat, the trims, DELETE FROM log): commits touch one or two log pages
//   ring       (chat, slot) WITHOUT ROWID, slot = seq mod retention, REPLACE: no trims, no splits
//   rowid-key  INTEGER PRIMARY KEY chat × 2^32 + seq, the same inserts and trims as chat-tree
//   json-batch chat-tree's rows in one INSERT … SELECT FROM json_each(?) per commit
//
// Every layout has its own file in one temporary directory and is driven in turns within each
// round (reversed every other round), so the guest's drift falls on all of them; per round the CPU µs per
// row of each, and its ratio to chat-tree's of the same round. Prints a table of medians.
import Database from 'better-sqlite3'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { bootstrapMedian, inTurn, median, processWriteBytes } from './lib/stats.ts'

const { values: args } = parseArgs({ options: { k: { type: 'string', default: '5' }, rounds: { type: 'string', default: '7' }, commits: { type: 'string', default: '300' } } })
const K = Number(args.k)
const ROUNDS = Number(args.rounds)
const COMMITS = Number(args.commits)
const CHATS = 50
const KEEP = 1000
const LOG_MOVE = 4000
const CONTENT = 'relay bench message 0123456789'
const IDS = Array.from({ length: 8192 }, () => randomUUID())

const MESSAGES = `(chat INTEGER NOT NULL, seq INTEGER NOT NULL, from_a INTEGER NOT NULL, message_id TEXT NOT NULL, content TEXT NOT NULL, ts TEXT NOT NULL, PRIMARY KEY (chat, seq)) WITHOUT ROWID`
const COLUMNS = 'chat, seq, from_a, message_id, content, ts'

/** One commit's rows, flat as the store queues them: chat, seq, from_a, message_id, content, ts. */
type Rows = Array<number | string>

interface Layout {
  name: string
  /** Writes one commit's rows; `last` is each chat's last seq after them. */
  commit(rows: Rows, last: number[]): void
}

function open(dir: string, name: string): Database.Database {
  const db = new Database(join(dir, `${name}.db`))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  return db
}

function chatTree(db: Database.Database, table = 'messages'): { insert: Database.Statement; trim: Database.Statement } {
  db.exec(`CREATE TABLE ${table} ${MESSAGES}`)
  return {
    insert: db.prepare(`INSERT INTO ${table} (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`),
    trim: db.prepare(`DELETE FROM ${table} WHERE chat = ? AND seq < ?`)
  }
}

const trimAll = (trim: Database.Statement, last: number[]) => {
  for (let c = 0; c < CHATS; c++) if (last[c]! > KEEP) trim.run(c, last[c]! - KEEP + 1)
}

function layouts(dir: string): Layout[] {
  const out: Layout[] = []
  {
    const db = open(dir, 'chat-tree')
    const { insert, trim } = chatTree(db)
    const tx = db.transaction((rows: Rows, last: number[]) => {
      for (let i = 0; i < rows.length; i += 6) insert.run(rows[i], rows[i + 1], rows[i + 2], rows[i + 3], rows[i + 4], rows[i + 5])
      trimAll(trim, last)
    })
    out.push({ name: 'chat-tree', commit: tx })
  }
  {
    const db = open(dir, 'log')
    const { trim } = chatTree(db)
    db.exec(`CREATE TABLE log (${COLUMNS})`)
    const append = db.prepare(`INSERT INTO log (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`)
    const moveAll = db.prepare(`INSERT INTO messages SELECT ${COLUMNS} FROM log ORDER BY chat, seq`)
    const clear = db.prepare('DELETE FROM log')
    let logged = 0
    const move = db.transaction((last: number[]) => {
      moveAll.run()
      clear.run()
      trimAll(trim, last)
    })
    const tx = db.transaction((rows: Rows) => {
      for (let i = 0; i < rows.length; i += 6) append.run(rows[i], rows[i + 1], rows[i + 2], rows[i + 3], rows[i + 4], rows[i + 5])
    })
    out.push({
      name: 'log',
      commit: (rows, last) => {
        tx(rows)
        logged += rows.length / 6
        if (logged >= LOG_MOVE) {
          move(last)
          logged = 0
        }
      }
    })
  }
  {
    const db = open(dir, 'ring')
    db.exec(`CREATE TABLE ring (chat INTEGER NOT NULL, slot INTEGER NOT NULL, seq INTEGER NOT NULL, from_a INTEGER NOT NULL, message_id TEXT NOT NULL, content TEXT NOT NULL, ts TEXT NOT NULL, PRIMARY KEY (chat, slot)) WITHOUT ROWID`)
    const put = db.prepare(`REPLACE INTO ring (chat, slot, seq, from_a, message_id, content, ts) VALUES (?, ?, ?, ?, ?, ?, ?)`)
    const tx = db.transaction((rows: Rows) => {
      for (let i = 0; i < rows.length; i += 6) put.run(rows[i], (rows[i + 1] as number) % KEEP, rows[i + 1], rows[i + 2], rows[i + 3], rows[i + 4], rows[i + 5])
    })
    out.push({ name: 'ring', commit: tx })
  }
  {
    const db = open(dir, 'rowid-key')
    db.exec('CREATE TABLE messages (id INTEGER PRIMARY KEY, from_a INTEGER NOT NULL, message_id TEXT NOT NULL, content TEXT NOT NULL, ts TEXT NOT NULL)')
    const insert = db.prepare('INSERT INTO messages (id, from_a, message_id, content, ts) VALUES (?, ?, ?, ?, ?)')
    const trim = db.prepare('DELETE FROM messages WHERE id >= ? AND id < ?')
    const tx = db.transaction((rows: Rows, last: number[]) => {
      for (let i = 0; i < rows.length; i += 6) insert.run((rows[i] as number) * 2 ** 32 + (rows[i + 1] as number), rows[i + 2], rows[i + 3], rows[i + 4], rows[i + 5])
      for (let c = 0; c < CHATS; c++) if (last[c]! > KEEP) trim.run(c * 2 ** 32, c * 2 ** 32 + last[c]! - KEEP + 1)
    })
    out.push({ name: 'rowid-key', commit: tx })
  }
  {
    const db = open(dir, 'json-batch')
    const { trim } = chatTree(db)
    const insertAll = db.prepare(`INSERT INTO messages (${COLUMNS}) SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5 FROM json_each(?)`)
    const tx = db.transaction((rows: Rows, last: number[]) => {
      const list: Rows[] = []
      for (let i = 0; i < rows.length; i += 6) list.push(rows.slice(i, i + 6))
      insertAll.run(JSON.stringify(list))
      trimAll(trim, last)
    })
    out.push({ name: 'json-batch', commit: tx })
  }
  return out
}

/** Each layout's own chats: the next commit's rows, k per chat, as the relay queues them. */
class Load {
  readonly last = new Array<number>(CHATS).fill(0)
  rows(): Rows {
    const rows: Rows = []
    const ts = new Date().toISOString()
    for (let c = 0; c < CHATS; c++) {
      for (let i = 0; i < K; i++) {
        const seq = ++this.last[c]!
        rows.push(c, seq, seq & 1, IDS[(seq * 31 + c) & 8191]!, CONTENT, ts)
      }
    }
    return rows
  }
}

const dir = mkdtempSync(join(tmpdir(), 'micro-sqlite-layouts-'))
try {
  const all = layouts(dir).map((layout) => ({ layout, load: new Load(), us: [] as number[], ratio: [] as number[], bytes: [] as number[] }))
  // Every chat past its retention before measuring, so every layout trims (or overwrites) from the start.
  for (const l of all) while (l.load.last[0]! <= KEEP + 2 * LOG_MOVE / CHATS) l.layout.commit(l.load.rows(), l.load.last)
  for (let round = 0; round < ROUNDS; round++) {
    const mine = new Map<string, number>()
    for (const l of inTurn(all, round)) {
      const w0 = processWriteBytes(process.pid)
      const c0 = process.cpuUsage()
      for (let i = 0; i < COMMITS; i++) l.layout.commit(l.load.rows(), l.load.last)
      const c = process.cpuUsage(c0)
      const n = COMMITS * CHATS * K
      mine.set(l.layout.name, (c.user + c.system) / n)
      l.us.push((c.user + c.system) / n)
      l.bytes.push((processWriteBytes(process.pid) - w0) / n)
    }
    for (const l of all) l.ratio.push(mine.get(l.layout.name)! / mine.get('chat-tree')!)
  }
  const f = (x: number, d = 2) => x.toFixed(d)
  process.stdout.write(`SQLite message-row layouts: ${CHATS} chats past ${KEEP} kept, ${K} per chat per commit, ${COMMITS} commits a turn, ${ROUNDS} rounds\n\n`)
  process.stdout.write('| layout | CPU µs per row (median) | written B per row | ratio to chat-tree (median, 90 % interval) |\n|---|---|---|---|\n')
  for (const l of all) {
    const [lo, hi] = bootstrapMedian(l.ratio)
    process.stdout.write(`| ${l.layout.name} | ${f(median(l.us))} | ${f(median(l.bytes), 0)} | ${f(median(l.ratio))} (${f(lo)}–${f(hi)}) |\n`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
