// The in-process Backplane, used when REDIS_URL is unset. State lives in a MemoryHub; each
// MemoryBackplane is one instance's view of it. The app uses one hub and one instance; tests put
// several instances on one hub to exercise the instance-aware paths without Redis. What a chat
// message touches (deliver, keys, isOpen, lookup, rate limits) answers synchronously, not
// through a promise.
import { randomUUID } from 'node:crypto'
import { TtlMap } from '../lib/ttl-map.ts'
import { WindowCounter } from '../lib/window-counter.ts'
import type { Backplane, BackplaneHandlers, ChatStore, Delivery, FanoutSpace, KeySpace, KeyStore, PresenceChange, PresenceRegistry, UserEntry } from './backplane.ts'
import { LocalFanout } from './fanout.ts'

interface OnlineUser {
  display_name: string
  /** Instances holding at least one connection of the user. */
  instances: Set<string>
}

/** Each key space's number in the shared TtlMap. */
const SPACE = { dedupe: 0, receipt: 1, partner: 2 } as const satisfies Record<KeySpace, number>

export interface MemoryHubOptions {
  /**
   * Cap on short-lived keys (dedupe, receipts, partners): the spaces share one ring of
   * maxKeys × 2 slots of two keys each (TtlMap), and past it the oldest slot goes first,
   * whatever its spaces. A MSG's dedupe and receipt keys share a slot, so under a relay's load
   * each of the two keeps the last 2 × maxKeys messages; a sender whose messages are never
   * confirmed leaves receipts that age out with their dedupe keys.
   */
  maxKeys?: number
  now?: () => number
}

export class MemoryHub {
  readonly users = new Map<string, OnlineUser>()
  readonly instances = new Map<string, BackplaneHandlers>()
  /** user → users they have an open chat with (both directions stored). */
  readonly partners = new Map<string, Set<string>>()
  /** Dedupe, receipt and partner keys in one ring (see TtlMap: a MSG's two keys share a slot). */
  readonly keys: TtlMap<string>
  /** By name: the instances on a hub share a limiter, as they would share Redis's counters. */
  readonly limiters = new Map<string, WindowCounter>()
  readonly fanouts = new Map<FanoutSpace, LocalFanout>()

  constructor(opts: MemoryHubOptions = {}) {
    this.keys = new TtlMap((opts.maxKeys ?? 100_000) * 2, opts.now)
  }

  emit(change: PresenceChange): void {
    for (const handlers of this.instances.values()) handlers.presence(change)
  }
}

export class MemoryBackplane implements Backplane {
  /** Nothing to lose touch with. */
  readonly healthy = true
  readonly presence: PresenceRegistry
  readonly chats: ChatStore
  readonly keys: KeyStore

  constructor(
    readonly hub: MemoryHub = new MemoryHub(),
    readonly instanceId: string = randomUUID()
  ) {
    this.presence = presenceRegistry(hub, instanceId)
    this.chats = chatStore(hub)
    this.keys = keyStore(hub)
  }

  /** The first to ask for `name` on the hub sets its points and duration. */
  limiter(name: string, points: number, durationS: number): WindowCounter {
    let limiter = this.hub.limiters.get(name)
    if (!limiter) this.hub.limiters.set(name, (limiter = new WindowCounter(points, durationS * 1000)))
    return limiter
  }

  fanout(space: FanoutSpace): LocalFanout {
    let fanout = this.hub.fanouts.get(space)
    if (!fanout) this.hub.fanouts.set(space, (fanout = new LocalFanout()))
    return fanout
  }

  async attach(handlers: BackplaneHandlers): Promise<void> {
    this.hub.instances.set(this.instanceId, handlers)
  }

  deliver(userId: string, delivery: Delivery): number {
    const user = this.hub.users.get(userId)
    if (!user) return 0
    let taken = 0
    for (const instance of user.instances) taken += this.hub.instances.get(instance)?.deliver(userId, delivery) ?? 0
    return taken
  }

  async close(): Promise<void> {
    this.hub.instances.delete(this.instanceId)
    for (const [userId, user] of this.hub.users) {
      if (user.instances.has(this.instanceId)) await this.presence.leave(userId)
    }
  }
}

function presenceRegistry(hub: MemoryHub, instanceId: string): PresenceRegistry {
  return {
    async join(user: UserEntry): Promise<boolean> {
      const known = hub.users.get(user.user_id)
      if (!known) {
        hub.users.set(user.user_id, { display_name: user.display_name, instances: new Set([instanceId]) })
        hub.emit({ ...user, online: true })
        return true
      }
      known.instances.add(instanceId)
      if (known.display_name === user.display_name) return false
      known.display_name = user.display_name
      hub.emit({ ...user, online: true })
      return true
    },
    async leave(userId: string): Promise<boolean> {
      const known = hub.users.get(userId)
      if (!known || !known.instances.delete(instanceId) || known.instances.size > 0) return false
      hub.users.delete(userId)
      hub.emit({ user_id: userId, display_name: known.display_name, online: false })
      return true
    },
    async list(): Promise<UserEntry[]> {
      return [...hub.users].map(([user_id, u]) => ({ user_id, display_name: u.display_name }))
    },
    lookup(userId: string): string | undefined {
      return hub.users.get(userId)?.display_name
    }
  }
}

function chatStore(hub: MemoryHub): ChatStore {
  const link = (a: string, b: string) => {
    let set = hub.partners.get(a)
    if (!set) hub.partners.set(a, (set = new Set()))
    set.add(b)
  }
  const unlink = (a: string, b: string) => {
    const set = hub.partners.get(a)
    if (set?.delete(b) && set.size === 0) hub.partners.delete(a)
  }
  return {
    async open(a, b) {
      if (hub.partners.get(a)?.has(b)) return false
      link(a, b)
      link(b, a)
      return true
    },
    isOpen(a, b) {
      return hub.partners.get(a)?.has(b) ?? false
    },
    async partners(userId) {
      return [...(hub.partners.get(userId) ?? [])]
    },
    async close(a, b) {
      unlink(a, b)
      unlink(b, a)
    }
  }
}

function keyStore(hub: MemoryHub): KeyStore {
  return {
    claim(space, owner, id, value, ttlMs) {
      return hub.keys.setIfAbsent(owner, id, value, ttlMs, SPACE[space])
    },
    put(space, owner, id, value, ttlMs) {
      hub.keys.set(owner, id, value, ttlMs, SPACE[space])
    },
    get(space, owner, id) {
      return hub.keys.get(owner, id, SPACE[space])
    },
    take(space, owner, id) {
      return hub.keys.take(owner, id, SPACE[space])
    },
    delete(space, owner, id) {
      hub.keys.delete(owner, id, SPACE[space])
    }
  }
}
