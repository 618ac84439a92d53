// The instances of a Redis deployment as the admin console shows them (docs/admin.md): each one's
// lease (sb:instances, renewed by redis.ts) and the counts it publishes about itself once a
// second under sb:admin:<instance>, a key that expires when the instance stops writing it. Here
// because only src/backplane knows Redis; a MemoryBackplane has no other instances, so no board.
import type { Backplane } from './backplane.ts'
import { isPlainObject, parseJson } from '../lib/json.ts'
import { leaseTimings, RedisBackplane } from './redis.ts'
import { Keys, PREFIX } from './redis-scripts.ts'

/** What an instance says about itself (src/admin fills it in). */
export interface InstanceStats {
  /** Open connections per surface. */
  connections: Record<string, number>
  /** Users with a connection on the instance. */
  users: number
  heap_used: number
  rss: number
  started_at: number
  /** The instance's lease length, so its lease age reads right whatever its INSTANCE_TTL_S. */
  lease_ms: number
}

export interface InstanceRow {
  instance: string
  /** This process. */
  self: boolean
  /** Since the lease was last renewed (by Redis's clock); it is renewed every third of a lease. */
  lease_age_ms: number
  /** Until the lease runs out and the other instances retire the instance's users. */
  lease_left_ms: number
  /** Users Redis counts as held by the instance. */
  users_held: number
  /** Its latest published stats; null when it publishes none (no admin token, an old release). */
  stats: InstanceStats | null
}

export interface InstanceBoard {
  /** Publish this instance's stats (the board adds its lease); a failure (Redis away) is the caller's to ignore. */
  publish(stats: Omit<InstanceStats, 'lease_ms'>): Promise<void>
  /** Every instance holding a lease, this one first. Rejects while Redis does not answer. */
  list(): Promise<InstanceRow[]>
}

/** Stats outlive a few missed seconds, not a dead instance. */
const STATS_TTL_MS = 5_000

export const statsKey = (instance: string) => `${PREFIX}admin:${instance}`

/** The board of a Redis backplane; undefined for one without other instances to show. */
export function instanceBoard(backplane: Backplane, instanceTtlS: number): InstanceBoard | undefined {
  if (!(backplane instanceof RedisBackplane)) return undefined
  const cmd = backplane.link.cmd
  const self = backplane.instanceId
  const ownLeaseMs = leaseTimings(instanceTtlS).leaseMs
  return {
    async publish(stats) {
      await cmd.set(statsKey(self), JSON.stringify({ ...stats, lease_ms: ownLeaseMs } satisfies InstanceStats), 'PX', STATS_TTL_MS)
    },
    async list() {
      const first = await cmd.pipeline().time().zrange(Keys.instances, 0, '-1', 'WITHSCORES').exec()
      const [time, leases] = (first ?? []).map(([err, value]) => {
        if (err) throw err
        return value as string[]
      })
      const now = Number(time![0]) * 1000 + Math.floor(Number(time![1]) / 1000)
      const expiries = new Map<string, number>()
      for (let i = 0; i + 1 < leases!.length; i += 2) expiries.set(leases![i]!, Number(leases![i + 1]))
      const ids = [...expiries.keys()].sort((a, b) => (a === self ? -1 : b === self ? 1 : a.localeCompare(b)))
      if (ids.length === 0) return []
      const second = cmd.pipeline()
      for (const id of ids) second.get(statsKey(id)).scard(Keys.instanceUsers(id))
      const replies = (await second.exec()) ?? []
      return ids.map((instance, i) => {
        const [statsErr, raw] = replies[2 * i] ?? [null, null]
        const [, held] = replies[2 * i + 1] ?? [null, 0]
        const stats = !statsErr && typeof raw === 'string' ? parseStats(raw) : null
        const left = expiries.get(instance)! - now
        return {
          instance,
          self: instance === self,
          lease_age_ms: Math.max(0, (stats?.lease_ms ?? ownLeaseMs) - left),
          lease_left_ms: left,
          users_held: Number(held ?? 0),
          stats
        }
      })
    }
  }
}

function parseStats(raw: string): InstanceStats | null {
  const parsed = parseJson(raw)
  return parsed.ok && isPlainObject(parsed.value) && typeof parsed.value.connections === 'object' ? parsed.value as unknown as InstanceStats : null
}
