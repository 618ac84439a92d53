// The SQLite history store against the shared contract (a fresh directory per store, the same
// directory again to prove persistence), plus what only it promises: one turn's writes are one
// commit, acked only after that commit, in a WAL-mode file that keeps an acked write through a
// killed process.
import t from 'tap'
import Database from 'better-sqlite3'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chatId } from '../../src/chat/chats.ts'
import type { HistoryLimits, NewMessage } from '../../src/history/store.ts'
import { openSqliteHistory } from '../../src/history/sqlite.ts'
import { historyContract } from './contract.ts'

const dirs: string[] = []
t.teardown(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'history-sqlite-'))
  dirs.push(dir)
  return dir
}

let lastDir = ''
historyContract(
  t,
  async (limits: HistoryLimits) => openSqliteHistory({ dir: (lastDir = freshDir()), limits }),
  { reopen: async (limits: HistoryLimits) => openSqliteHistory({ dir: lastDir, limits }) }
)

const LIMITS: HistoryLimits = { maxPerChat: 1000, ttlS: 3600 }
const AB = chatId('alice', 'bob')
const msg = (i: number): NewMessage => ({
  chat_id: AB,
  from: i % 2 ? 'alice' : 'bob',
  to: i % 2 ? 'bob' : 'alice',
  content: `message ${i}`,
  message_id: `id-${i}`,
  timestamp: new Date(Date.now() - 1000 + i).toISOString()
})

t.test('sqlite: 500 appends issued in one turn are one transaction, acked only after it', async (t) => {
  const store = openSqliteHistory({ dir: freshDir(), limits: LIMITS })
  t.teardown(() => store.close())
  const before = store.flushes
  let acked = 0
  const appends = Array.from({ length: 500 }, (_, i) => Promise.resolve(store.append(msg(i + 1))).then((r) => (acked++, r)))
  await Promise.resolve()
  t.equal(acked, 0, 'nothing is acked before the commit')
  t.equal(store.flushes, before, 'nothing is committed within the turn')
  const results = await Promise.all(appends)
  t.equal(store.flushes, before + 1, 'one commit for the whole turn')
  t.strictSame(results.map((r) => r.message.seq), Array.from({ length: 500 }, (_, i) => i + 1))
  t.equal((await store.page(AB, { limit: 1 }))?.last_seq, 500)
})

t.test('sqlite: receipts and the reads of users, partners and claims do not commit early', async (t) => {
  const store = openSqliteHistory({ dir: freshDir(), limits: LIMITS })
  t.teardown(() => store.close())
  const toBob = Array.from({ length: 10 }, (_, i) => msg(2 * i + 1))
  await Promise.all(toBob.map((m) => store.append(m)))

  // Ten receipts in one turn, as a reader confirming a burst: one commit for all of them.
  let before = store.flushes
  const receipts = toBob.map((m) => store.markReceived(AB, 'bob', 'alice', m.message_id))
  t.equal(store.flushes, before, 'a receipt of a committed message does not commit on its own')
  const confirmed = await Promise.all(receipts)
  t.strictSame(confirmed, toBob.map((m, i) => ({ chat_id: AB, from: 'alice', to: 'bob', message_id: m.message_id, seq: i + 1 })))
  t.equal(store.flushes, before + 1, 'the ten receipts are one commit')
  t.strictSame((await store.page(AB, { limit: 10 }))!.messages.map((m) => m.status), toBob.map(() => 'received'), 'and they are stored')

  // A receipt for an append still queued (a client confirming ahead of its delivery) commits with it.
  const early = msg(21)
  before = store.flushes
  const appended = store.append(early)
  const receipt = store.markReceived(AB, 'bob', 'alice', early.message_id)
  t.equal(store.flushes, before, 'nothing committed to answer it')
  t.strictSame([(await receipt)?.seq, (await appended).message.seq], [11, 11])
  t.equal(store.flushes, before + 1, 'the row and its receipt are one commit')
  t.strictSame((await store.page(AB, { after_seq: 10, limit: 10 }))!.messages.map((m) => [m.seq, m.status]), [[11, 'received']])

  // Users, partners and claims queued this turn answer from the queue.
  before = store.flushes
  const seen = store.seen('carol', 'Carol')
  store.setPartner('carol', 'dave')
  const claimed = store.setClaimHash('carol', 'hash-1')
  t.equal(store.known('carol'), 'Carol')
  t.equal(store.partnerOf('carol'), 'dave')
  t.equal(store.claimHash('carol'), 'hash-1')
  const second = store.setClaimHash('carol', 'hash-2')
  t.equal(store.flushes, before, 'none of those reads committed')
  t.strictSame(await Promise.all([seen, claimed, second]), [undefined, true, false], 'a claim queued this turn counts as there, once it is committed')
  t.equal(store.flushes, before + 1, 'the turn is one commit')
  t.strictSame([store.known('carol'), store.partnerOf('carol'), store.claimHash('carol')], ['Carol', 'dave', 'hash-1'], 'and the table answers after it')
  t.equal(store.known('erin'), undefined, 'an unknown user is still unknown')
})

t.test('sqlite: one history.db in WAL mode, its size reported with the log', async (t) => {
  const dir = join(freshDir(), 'nested', 'data') // made on open
  const store = openSqliteHistory({ dir, limits: LIMITS })
  t.teardown(() => store.close())
  await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(msg(i + 1))))
  t.ok(existsSync(join(dir, 'history.db-wal')), 'the write-ahead log exists')
  const probe = new Database(join(dir, 'history.db'), { readonly: true })
  t.teardown(() => probe.close())
  t.equal(probe.pragma('journal_mode', { simple: true }), 'wal')
  t.equal((probe.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, 50, 'committed rows are visible to another connection')
  const bytes = store.fileBytes()
  t.ok(bytes > 0, `fileBytes counts database and log (${bytes})`)
  await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(msg(i + 51))))
  t.ok(store.fileBytes() > bytes, 'and grows with the log')
})

t.test('sqlite: dedupe holds across a reopen, when the ids are read back from the table', async (t) => {
  const dir = freshDir()
  const limits = { maxPerChat: 4, ttlS: 3600 }
  const first = openSqliteHistory({ dir, limits })
  for (let i = 1; i <= 6; i++) await first.append(msg(i))
  await first.close()
  const again = openSqliteHistory({ dir, limits })
  t.teardown(() => again.close())
  const dup = await again.append(msg(5))
  t.strictSame([dup.duplicate, dup.message.seq, dup.message.content], [true, 5, 'message 5'], 'a kept id is a duplicate after the reopen')
  const freed = await again.append(msg(1))
  t.strictSame([freed.duplicate, freed.message.seq], [false, 7], 'a trimmed id is free again')
  t.strictSame((await again.markReceived(AB, 'bob', 'alice', 'id-5'))?.seq, 5, 'a receipt finds a kept message by id')
  t.equal(await again.markReceived(AB, 'bob', 'alice', 'id-3'), undefined, 'not a trimmed one')
})

t.test('sqlite: checkpoints run in a worker thread, never on the store\'s own connection', async (t) => {
  const dir = freshDir()
  const store = openSqliteHistory({ dir, limits: LIMITS })
  t.teardown(() => store.close())
  await Promise.all(Array.from({ length: 300 }, (_, i) => store.append(msg(i + 1))))
  const mainFile = () => statSync(join(dir, 'history.db')).size
  const before = mainFile()
  const start = Date.now()
  while (store.checkpoints === 0 && Date.now() - start < 5000) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(store.checkpoints >= 1, `the worker checkpointed (${store.checkpoints})`)
  t.ok(mainFile() > before, `the log was copied into history.db (${before} → ${mainFile()} bytes)`)
  t.equal((await store.page(AB, { limit: 1 }))?.last_seq, 300, 'and the store reads on')
})

t.test('sqlite: what was acked survives the process being killed right after the ack', async (t) => {
  const dir = freshDir()
  const child = `
    import { openSqliteHistory } from ${JSON.stringify(new URL('../../src/history/sqlite.ts', import.meta.url).pathname)}
    const store = openSqliteHistory({ dir: process.argv[1], limits: { maxPerChat: 1000, ttlS: 3600 } })
    const msgs = JSON.parse(process.argv[2])
    // Two commits: the second leaves the chat's row behind its messages (flush(): DEFER_MS).
    const first = await Promise.all(msgs.slice(0, 10).map((m) => store.append(m)))
    const second = await Promise.all(msgs.slice(10).map((m) => store.append(m)))
    process.stdout.write(JSON.stringify([...first, ...second].map((a) => a.message.seq)))
    process.kill(process.pid, 'SIGKILL') // no close(), no exit handlers: a crash
  `
  const msgs = Array.from({ length: 20 }, (_, i) => msg(i + 1))
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child, dir, JSON.stringify(msgs)], { encoding: 'utf8' })
  t.equal(run.signal, 'SIGKILL', run.stderr)
  t.strictSame(JSON.parse(run.stdout), msgs.map((_, i) => i + 1), 'the child saw every ack')
  const store = openSqliteHistory({ dir, limits: LIMITS })
  t.teardown(() => store.close())
  const page = await store.page(AB, { limit: 100 })
  t.strictSame(page?.messages.map((m) => [m.seq, m.message_id, m.content]), msgs.map((m, i) => [i + 1, m.message_id, m.content]))
  t.equal(page?.last_seq, 20, 'the chat\'s row, left behind by the crash, is repaired from its messages')
  t.equal((await store.chatsOf('alice', 10))[0]?.last_seq, 20, 'and CHATS says so')
  t.equal((await store.append(msg(21))).message.seq, 21, 'seq continues after the last acked message')
})

t.test('sqlite: a commit refused (the file locked by another process) fails its appends and a same-turn retry, and the sweep logs and goes on', async (t) => {
  const dir = freshDir()
  const warnings: string[] = []
  // ttlS 1: the expiry sweep runs every second.
  const store = openSqliteHistory({ dir, limits: { maxPerChat: 1000, ttlS: 1 }, log: { warn: (_obj, m) => void warnings.push(m) } })
  t.teardown(() => store.close())
  const other = new Database(join(dir, 'history.db'))
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE') // a backup or the sqlite3 shell holding the write lock

  let original: Promise<unknown> | undefined
  let retry: Promise<unknown> | undefined
  t.doesNotThrow(() => {
    original = Promise.resolve(store.append(msg(1)))
    retry = Promise.resolve(store.append(msg(1))) // the same id in the same turn: its original is still queued
  }, 'append never throws; a failure is its promise')
  await t.rejects(original!, /locked/, 'the original is not acked')
  await t.rejects(retry!, /id-1 .* was not stored: its commit failed/, 'its retry fails with it instead of answering from a row that was rolled back')

  await new Promise((resolve) => setTimeout(resolve, 1300))
  t.ok(warnings.includes('history sweep failed; it runs again at the next interval'), 'the sweep could not run: logged, and this process is still here')

  other.exec('COMMIT')
  const again = await store.append(msg(1))
  t.same([again.message.seq, again.duplicate], [1, false], 'once the lock is gone, the retry is stored afresh')
})

t.test('sqlite: expired claims leave the file, and a file from before claims expired keeps its claims', async (t) => {
  const rows = (dir: string, sql: string) => {
    const db = new Database(join(dir, 'history.db'), { readonly: true })
    try {
      return db.prepare(sql).all()
    } finally {
      db.close()
    }
  }
  // A HELLO with a fresh user id each time stores a claim: with ttlS 1 the sweep runs every second.
  const dir = freshDir()
  const store = openSqliteHistory({ dir, limits: { maxPerChat: 1000, ttlS: 1 } })
  t.teardown(() => store.close())
  for (let i = 0; i < 20; i++) await store.setClaimHash(`drive-by-${i}`, `hash-${i}`)
  t.equal(rows(dir, 'SELECT user_id FROM claims').length, 20)
  await new Promise((resolve) => setTimeout(resolve, 3200))
  t.strictSame(rows(dir, 'SELECT user_id FROM claims'), [], 'swept from the file two ttlS later')

  // The claims table as files before this change have it: no expires_at.
  const old = freshDir()
  const db = new Database(join(old, 'history.db'))
  db.exec('CREATE TABLE claims (user_id TEXT PRIMARY KEY, hash TEXT NOT NULL) WITHOUT ROWID')
  db.prepare('INSERT INTO claims (user_id, hash) VALUES (?, ?)').run('alice', 'hash-a')
  db.close()
  const reopened = openSqliteHistory({ dir: old, limits: LIMITS })
  t.teardown(() => reopened.close())
  t.equal(reopened.claimHash('alice'), 'hash-a', 'an old claim is kept')
  t.equal(await reopened.setClaimHash('alice', 'hash-other'), false, 'and still guards the id')
  const [kept] = rows(old, 'SELECT expires_at FROM claims') as Array<{ expires_at: number }>
  t.ok(kept!.expires_at > Date.now() + 2 * 3600_000 - 60_000, 'for two TTLs from the upgrade')

  // A downgrade writes claims as the release before did, without expires_at: kept for good, never taken as expired.
  for (const file of [old, dir]) {
    const writer = new Database(join(file, 'history.db'))
    writer.prepare('INSERT INTO claims (user_id, hash) VALUES (?, ?)').run('written-by-the-old-release', 'hash-old')
    writer.close()
  }
  t.equal(reopened.claimHash('written-by-the-old-release'), 'hash-old', 'a migrated file')
  t.equal(store.claimHash('written-by-the-old-release'), 'hash-old', 'a file made with the column')
})
