// Which Backplane an instance runs: over Redis when a URL is configured (several instances act
// as one service), in this process otherwise; plugins/backplane.ts asks here, never picks itself.
import type { Backplane } from './backplane.ts'
import { MemoryBackplane } from './memory.ts'
import type { BackplaneLog } from './redis-link.ts'
import { RedisBackplane } from './redis.ts'

export interface OpenBackplaneOptions {
  /** REDIS_URL; may carry a password, so it is never logged. */
  url: string | undefined
  /** INSTANCE_TTL_S: users of a dead instance leave presence within this many seconds. */
  instanceTtlS: number
  log: BackplaneLog
}

export async function openBackplane(opts: OpenBackplaneOptions): Promise<Backplane> {
  if (!opts.url) return new MemoryBackplane()
  return RedisBackplane.connect({ url: opts.url, instanceTtlS: opts.instanceTtlS, log: opts.log })
}
