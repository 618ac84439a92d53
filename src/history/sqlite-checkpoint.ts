// WAL checkpoints for the SQLite history store, off the event loop. A checkpoint copies the
// write-ahead log back into the database file and fsyncs both: about 5 ms every thousand or so
// messages, which on the serving thread stalls every socket (docs/bench.md, History). Here a
// worker thread with its own connection runs PASSIVE checkpoints (they never block the writer)
// on a timer, and the store's own connection never checkpoints (wal_autocheckpoint = 0). If the
// worker cannot run, the store checkpoints itself again, as SQLite does by default.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/** How often the worker checkpoints: the WAL holds at most about this long of writes. */
export const CHECKPOINT_EVERY_MS = 1000

// Plain CommonJS evaluated in the worker, so it runs the same from tsx and from tsc's output.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.path)
db.pragma('busy_timeout = 1000')
const timer = setInterval(() => {
  try { parentPort.postMessage(db.pragma('wal_checkpoint(PASSIVE)')[0]) } catch (err) { parentPort.postMessage({ error: String(err) }) }
}, workerData.everyMs)
parentPort.on('message', () => { clearInterval(timer); db.close(); process.exit(0) })
`

export interface CheckpointResult {
  busy: number
  log: number
  checkpointed: number
}

export interface Checkpointer {
  /** Checkpoints the worker ran (for tests). */
  readonly runs: number
  stop(): Promise<void>
}

/**
 * Start checkpointing `path` from a worker. `fallback` is called once if the worker fails, so
 * the store can turn its own automatic checkpoints back on.
 */
export function startCheckpointer(path: string, fallback: (err: unknown) => void, everyMs = CHECKPOINT_EVERY_MS): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3')
  // execArgv: none of the process's flags (a --cpu-prof of the server must not profile this thread over it).
  const worker = new Worker(WORKER, { eval: true, workerData: { path, driver, everyMs }, execArgv: [] })
  let runs = 0
  let failed = false
  const fail = (err: unknown) => {
    if (failed) return
    failed = true
    fallback(err)
  }
  worker.on('message', (m: CheckpointResult | { error: string }) => {
    if ('error' in m) fail(new Error(m.error))
    else runs++
  })
  worker.on('error', fail)
  // Never what keeps the process alive; after the listeners, which would hold it again.
  worker.unref()
  return {
    get runs() {
      return runs
    },
    async stop() {
      if (failed) return
      failed = true
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
      worker.ref() // the process waits for the worker's connection to close
      worker.postMessage('stop')
      await exited
    }
  }
}
