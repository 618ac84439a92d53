// Which HistoryStore an instance runs (HISTORY_STORE, SPEC section 9): SQLite under DATA_DIR by
// default, Redis when the instances share one, memory for tests, or none. plugins/history.ts
// asks here, never picks itself.
import type { BackplaneLog } from '../backplane/redis-link.ts'
import { MemoryHistory } from './memory.ts'
import type { HistoryLimits, HistoryStore } from './store.ts'

export interface OpenHistoryOptions {
  kind: 'sqlite' | 'redis' | 'memory' | 'off'
  limits: HistoryLimits
  /** DATA_DIR: where the SQLite file lives. */
  dataDir: string
  /** REDIS_URL; may carry a password, so it is never logged. */
  redisUrl: string | undefined
  log: BackplaneLog
}

export async function openHistory(opts: OpenHistoryOptions): Promise<HistoryStore | undefined> {
  switch (opts.kind) {
    case 'off': return undefined
    case 'memory': return new MemoryHistory(opts.limits)
    // Imported when chosen: the native SQLite driver and the Redis client load only where used.
    case 'sqlite': return (await import('./sqlite.ts')).openSqliteHistory({ dir: opts.dataDir, limits: opts.limits, log: opts.log })
    case 'redis': return (await import('./redis.ts')).RedisHistory.connect({ url: opts.redisUrl!, limits: opts.limits, log: opts.log })
  }
}
