// The Backplane over Redis, used when REDIS_URL is set (SPEC section 8): presence, open chats,
// dedupe/receipt keys and routing shared by every instance. Frames for a user go out on that
// user's channel, which exactly the instances holding the user subscribe to; each answers how
// many connections took it, so MSG_ACK `delivered` stays truthful across instances. Every
// instance holds a lease; the others retire the users of one whose lease runs out.
//
// While Redis is away the instance keeps serving its own users from its own state: a
// MemoryBackplane that mirrors what this instance holds (its users, the chats they are in) and
// takes over the keys. When Redis returns, the instance registers everything again. docs/redis.md
// describes the design; the semantics are MemoryBackplane's.
import { randomUUID } from 'node:crypto'
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible'
import type { Awaitable } from '../lib/awaitable.ts'
import type { Backplane, BackplaneHandlers, ChatStore, Delivery, Fanout, FanoutSpace, KeyStore, Limiter, PresenceChange, PresenceRegistry, UserEntry } from './backplane.ts'
import { BusFanout } from './fanout.ts'
import { FlexibleLimiter } from './flexible-limiter.ts'
import { MemoryBackplane, MemoryHub } from './memory.ts'
import { RedisLink, type BackplaneLog } from './redis-link.ts'
import { Channels, Keys, defineScripts } from './redis-scripts.ts'

export interface RedisBackplaneOptions {
  url: string
  /** INSTANCE_TTL_S: users of a dead instance leave presence within this many seconds. */
  instanceTtlS: number
  log: BackplaneLog
  instanceId?: string
  /** How long deliver() waits for the other instances to say how many connections took a frame. */
  replyTimeoutMs?: number
  /** How long connect() waits for Redis before starting without it (it keeps trying). */
  connectWaitMs?: number
}

/**
 * Open chats expire after this long untouched (every MSG, TYPING or HELLO of a participant
 * starts it again): a backstop for chats whose cleanup never ran, e.g. Redis was away then.
 */
export const CHAT_TTL_MS = 24 * 60 * 60_000
/** A healthy instance answers in about a millisecond; this is for one that is stuck or cut off. */
export const REPLY_TIMEOUT_MS = 2000

/** Each fan-out space's channel prefix. */
const FANOUT_CHANNELS = { walker: Channels.walker } as const satisfies Record<FanoutSpace, string>

/**
 * Lease and sweep periods from INSTANCE_TTL_S. An instance renews its lease three times per
 * lease, and every instance sweeps expired leases each tick, so a dead instance's users are
 * gone at most lease + tick = INSTANCE_TTL_S after its last renewal (plus the debounce).
 */
export function leaseTimings(instanceTtlS: number): { tickMs: number; leaseMs: number; renewMs: number } {
  const ttlMs = instanceTtlS * 1000
  const tickMs = Math.min(1000, Math.max(50, ttlMs / 5))
  const leaseMs = Math.max(1, ttlMs - tickMs)
  return { tickMs, leaseMs, renewMs: leaseMs / 3 }
}

/**
 * How many connections took one delivery, summed over the instances' replies: settled when
 * every receiver answered or on timeout.
 */
class DeliveryTally {
  taken = 0
  private received = 0
  private expected = Infinity
  private settled = false
  private readonly timer: NodeJS.Timeout
  private resolve!: (taken: number) => void
  readonly done = new Promise<number>((resolve) => (this.resolve = resolve))

  constructor(timeoutMs: number, private readonly onSettled: () => void) {
    // Whatever answered by then counts; a receiver that did not answer counts as zero.
    this.timer = setTimeout(() => this.settle(), timeoutMs)
    this.timer.unref()
  }

  add(taken: number): void {
    this.taken += taken
    if (++this.received >= this.expected) this.settle()
  }

  /** PUBLISH said how many instances received it. */
  expect(receivers: number): void {
    this.expected = receivers
    if (this.received >= receivers) this.settle()
  }

  settle(): void {
    if (this.settled) return
    this.settled = true
    clearTimeout(this.timer)
    this.onSettled()
    this.resolve(this.taken)
  }
}

/**
 * A delivery on a user channel: origin, request id, droppable (1/0) followed by the metrics
 * label (and, tab-separated, the history extra: seq, chat_id, fields), except, then the frame
 * as is. Label and extra share the droppable line so an instance of the previous release still
 * reads the frame right during a rolling upgrade. JSON escapes tabs and newlines in strings, so
 * neither appears inside the fields.
 */
function envelope(origin: string, id: number, d: Delivery): string {
  const h = d.history
  const extra = h ? `\t${h.seq ?? ''}\t${h.chat_id ?? ''}\t${h.fields}` : ''
  return `${origin}\n${id}\n${d.droppable ? 1 : 0}${d.label}${extra}\n${d.except ?? ''}\n${d.frame}`
}

function openHistoryExtra(line: string, tab: number): Delivery['history'] {
  const [seq, chatId, fields] = line.slice(tab + 1).split('\t') as [string, string, string | undefined]
  if (fields === undefined) return undefined
  const extra: NonNullable<Delivery['history']> = { fields }
  if (chatId) extra.chat_id = chatId
  if (seq) extra.seq = Number(seq)
  return extra
}

function openEnvelope(message: string): { origin: string; id: number; delivery: Delivery } | undefined {
  const fields: string[] = []
  let from = 0
  for (let i = 0; i < 4; i++) {
    const cut = message.indexOf('\n', from)
    if (cut < 0) return undefined
    fields.push(message.slice(from, cut))
    from = cut + 1
  }
  const [origin, id, head, except] = fields as [string, string, string, string]
  const tab = head.indexOf('\t')
  const delivery: Delivery = { frame: message.slice(from), label: head.slice(1, tab < 0 ? undefined : tab) || 'other', droppable: head[0] === '1' }
  if (except) delivery.except = except
  if (tab >= 0) {
    const history = openHistoryExtra(head, tab)
    if (history) delivery.history = history
  }
  return { origin, id: Number(id), delivery }
}

function isPresenceChange(v: unknown): v is PresenceChange {
  const c = v as PresenceChange | null
  return typeof c === 'object' && c !== null && typeof c.user_id === 'string' && typeof c.display_name === 'string' && typeof c.online === 'boolean' &&
    (c.lost === undefined || c.lost === true)
}

export class RedisBackplane implements Backplane {
  readonly instanceId: string
  readonly presence: PresenceRegistry
  readonly chats: ChatStore
  readonly keys: KeyStore
  readonly link: RedisLink
  /**
   * This instance's own view, used while Redis is away and to register again when it returns:
   * the users it holds, the chats they are in, and the keys written meanwhile. Never attached,
   * so it emits nothing: the service-wide events come from Redis.
   */
  private readonly local: MemoryBackplane
  private handlers: BackplaneHandlers | undefined
  /** What the handlers were told is online: the base that reconciling after an outage diffs. */
  private readonly known = new Map<string, string>()
  /** Presence events that arrive while a list is on its way (they may be newer than it). */
  private readonly overlays = new Set<Map<string, PresenceChange>>()
  private readonly fanouts = new Map<FanoutSpace, BusFanout>()
  private readonly pending = new Map<number, DeliveryTally>()
  private lastRequest = 0
  private readonly timings: ReturnType<typeof leaseTimings>
  private readonly replyTimeoutMs: number
  private readonly log: BackplaneLog
  private readonly ticker: NodeJS.Timeout
  private ticking = false
  /** The last periodic command (renew, sweep) got an answer: Redis is not just connected but responsive. */
  private answering = true
  private renewDue = 0
  private sweepFrom = 0
  private syncing: Promise<void> = Promise.resolve()
  private syncQueued = false
  private reconcileTimer: NodeJS.Timeout | undefined
  private closed = false

  private constructor(opts: RedisBackplaneOptions) {
    this.instanceId = opts.instanceId ?? randomUUID()
    this.log = opts.log
    this.timings = leaseTimings(opts.instanceTtlS)
    this.replyTimeoutMs = opts.replyTimeoutMs ?? REPLY_TIMEOUT_MS
    this.local = new MemoryBackplane(new MemoryHub(), this.instanceId)
    this.link = new RedisLink({ url: opts.url, log: opts.log })
    defineScripts(this.link.cmd)

    this.link.route(Channels.presence, (_, message) => this.onPresence(message))
    this.link.route(Channels.chatOpened, (_, message) => this.onChatOpened(message))
    this.link.route(Channels.user, (userId, message) => this.onDelivery(userId, message))
    this.link.route(Channels.instance, (_, message) => this.onReply(message))
    void this.link.subscribe(Channels.presence)
    void this.link.subscribe(Channels.chatOpened)
    void this.link.subscribe(Channels.instance + this.instanceId)
    this.link.onUp(() => {
      this.answering = true
      this.resync()
    })
    // Replies cannot arrive any more: settle every waiting delivery with what it has.
    this.link.onDown(() => this.settleAll())
    this.ticker = setInterval(() => void this.tick(), this.timings.tickMs)
    this.ticker.unref()

    this.presence = {
      join: (user) => this.join(user),
      leave: (userId) => this.leave(userId),
      list: () => this.shared(async () => {
        const users = await this.snapshot()
        for (const [id, name] of users) this.known.set(id, name) // the caller (Presence.start) applies them all
        return [...users].map(([user_id, display_name]) => ({ user_id, display_name }))
      }, async () => [...this.known].map(([user_id, display_name]) => ({ user_id, display_name }))),
      lookup: (userId) => this.shared(async () => (await this.link.cmd.hget(Keys.names, userId)) ?? undefined, async () => this.known.get(userId))
    }
    this.chats = this.chatStore()
    this.keys = this.keyStore()
  }

  /** Connect, and register this instance before the app starts listening when Redis is there. */
  static async connect(opts: RedisBackplaneOptions): Promise<RedisBackplane> {
    const backplane = new RedisBackplane(opts)
    if (await backplane.link.connect(opts.connectWaitMs ?? 3000)) await backplane.syncing
    else opts.log.warn({}, 'redis is unreachable at startup; serving local users only until it answers')
    return backplane
  }

  get healthy(): boolean {
    return !this.closed && this.link.up && this.answering
  }

  async attach(handlers: BackplaneHandlers): Promise<void> {
    this.handlers = handlers
  }

  async deliver(userId: string, delivery: Delivery): Promise<number> {
    // This instance's connections first, from memory: a local recipient never waits on Redis
    // and is still served while it is away.
    const here = this.handlers?.deliver(userId, delivery) ?? 0
    if (!this.healthy) return here
    const id = ++this.lastRequest
    const tally = new DeliveryTally(this.replyTimeoutMs, () => this.pending.delete(id))
    this.pending.set(id, tally) // before publishing: a reply can beat PUBLISH's own answer
    try {
      // Every instance subscribed to the user's channel answers, this one included (its echo
      // is counted as 0 in-process), so the count needs no guess about who holds the user.
      tally.expect(await this.link.cmd.publish(Channels.user + userId, envelope(this.instanceId, id, delivery)))
    } catch (err) {
      this.log.debug({ err }, 'publishing a delivery failed')
      tally.settle()
    }
    return here + (await tally.done)
  }

  /**
   * Counters in Redis, shared by every instance. While the connection is down the insurance
   * limiter counts in this instance's memory (without a failed call first), so limiting goes on.
   */
  limiter(name: string, points: number, durationS: number): Limiter {
    return new FlexibleLimiter(new RateLimiterRedis({
      storeClient: this.link.cmd,
      keyPrefix: Keys.limiter(name),
      points,
      duration: durationS,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration: durationS })
    }))
  }

  fanout(space: FanoutSpace): Fanout {
    let fanout = this.fanouts.get(space)
    // One per space: the link routes a channel prefix to a single handler.
    if (!fanout) this.fanouts.set(space, (fanout = new BusFanout(this.link, this.instanceId, FANOUT_CHANNELS[space])))
    return fanout
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.ticker)
    clearTimeout(this.reconcileTimer)
    this.settleAll()
    await this.syncing
    if (this.link.up) {
      // Leaving now spares the others a lease's wait for this instance's users to go.
      await this.link.cmd.sbRetire(this.instanceId).catch((err: Error) => this.log.warn({ err }, 'could not leave redis cleanly; the lease expires instead'))
    }
    await this.link.close()
    await this.local.close()
  }

  // ---- presence

  private async join(user: UserEntry): Promise<boolean> {
    const alreadyHere = this.isLocal(user.user_id)
    const changedHere = await this.local.presence.join(user)
    this.known.set(user.user_id, user.display_name) // Presence.add applies the join itself
    // Subscribed before the others learn the user is here, so nothing sent to them is missed.
    const subscribed = alreadyHere ? undefined : this.link.subscribe(Channels.user + user.user_id)
    return this.shared(async () => {
      await subscribed
      const [changed, partners] = await this.link.cmd.sbJoin(this.instanceId, user.user_id, user.display_name, CHAT_TTL_MS)
      for (const other of partners) await this.local.chats.open(user.user_id, other)
      return changed === 1
    }, async () => changedHere)
  }

  private async leave(userId: string): Promise<boolean> {
    if (!(await this.local.presence.leave(userId))) return false // not held here
    this.link.unsubscribe(Channels.user + userId)
    await this.forgetLocalChats(userId)
    const offline = await this.shared(
      async () => (await this.link.cmd.sbLeave(this.instanceId, userId)) === 1,
      // Without Redis nobody can tell whether another instance holds the user: offline here.
      // Registering again when Redis returns brings them back if they are online elsewhere.
      async () => true
    )
    if (offline) this.known.delete(userId)
    return offline
  }

  private isLocal(userId: string): boolean {
    return this.local.hub.users.has(userId)
  }

  private onPresence(message: string): void {
    const change: unknown = JSON.parse(message)
    if (!isPresenceChange(change)) return
    if (!change.online && this.isLocal(change.user_id)) {
      // The user is here, so Redis is told so again, for this user only. Usually another
      // instance let go of the user's last connection there just before this instance's join
      // reached Redis (a tab moving between instances behind a round-robin proxy): the join's
      // own script puts them back. Re-registering everything here cost a script over every user
      // per such move and put off this instance's sweeps by a lease each time, so a dead
      // instance's users could stay online for as long as users kept moving. Redis sweeping
      // this instance itself is caught by its next renewal, which registers everything.
      this.rehold(change.user_id)
      return
    }
    for (const overlay of this.overlays) overlay.set(change.user_id, change)
    this.emit(change)
  }

  private rehold(userId: string): void {
    const name = this.known.get(userId)
    if (name === undefined) return this.resync()
    void this.shared(async () => void (await this.link.cmd.sbJoin(this.instanceId, userId, name, CHAT_TTL_MS)), () => undefined)
  }

  private emit(change: PresenceChange): void {
    if (!this.handlers) return // Presence.start lists everyone once attached
    if (change.online) this.known.set(change.user_id, change.display_name)
    else this.known.delete(change.user_id)
    this.handlers.presence(change)
  }

  /** Everyone online in arrival order, with the events that overtook the answer applied. */
  private async snapshot(): Promise<Map<string, string>> {
    const overlay = new Map<string, PresenceChange>()
    this.overlays.add(overlay)
    try {
      const flat = await this.link.cmd.sbList()
      const users = new Map<string, string>()
      for (let i = 0; i + 1 < flat.length; i += 2) users.set(flat[i]!, flat[i + 1]!)
      for (const c of overlay.values()) {
        if (c.online) users.set(c.user_id, c.display_name)
        else users.delete(c.user_id)
      }
      return users
    } finally {
      this.overlays.delete(overlay)
    }
  }

  /**
   * After an outage: users who left (or whose instance died) while this instance could not
   * hear about it go offline, users who came meanwhile come online. Runs a little after
   * Redis returns, so instances still registering again do not make their users flicker.
   */
  private async reconcile(): Promise<void> {
    if (!this.healthy || !this.handlers) return
    try {
      const now = await this.snapshot()
      for (const [id, name] of [...this.known]) {
        if (!now.has(id) && !this.isLocal(id)) this.emit({ user_id: id, display_name: name, online: false, lost: true })
      }
      for (const [id, name] of now) if (this.known.get(id) !== name) this.emit({ user_id: id, display_name: name, online: true })
    } catch (err) {
      this.log.debug({ err }, 'reconciling presence failed; the next reconnect retries')
    }
  }

  // ---- routing

  private onDelivery(userId: string, message: string): void {
    const env = openEnvelope(message)
    if (!env) return
    if (env.origin === this.instanceId) {
      this.pending.get(env.id)?.add(0) // delivered here before publishing
      return
    }
    const taken = this.handlers?.deliver(userId, env.delivery) ?? 0
    this.link.publish(Channels.instance + env.origin, `${env.id}\n${taken}`)
  }

  private onReply(message: string): void {
    const cut = message.indexOf('\n')
    this.pending.get(Number(message.slice(0, cut)))?.add(Number(message.slice(cut + 1)) || 0)
  }

  private settleAll(): void {
    for (const tally of [...this.pending.values()]) tally.settle()
  }

  // ---- chats and keys: Redis when it answers, this instance's own state when it does not

  private chatStore(): ChatStore {
    const cmd = this.link.cmd
    const local = this.local.chats
    return {
      open: async (a, b) => {
        const openedHere = await local.open(a, b) // remembered for an outage: the opener is here
        return this.shared(async () => (await cmd.sbChatOpen(a, b, CHAT_TTL_MS)) === 1, async () => openedHere)
      },
      isOpen: (a, b) => this.shared(async () => {
        const open = (await cmd.sbChatIsOpen(a, b, CHAT_TTL_MS)) === 1
        if (open && (this.isLocal(a) || this.isLocal(b))) await local.open(a, b)
        else if (!open) await local.close(a, b)
        return open
      }, () => local.isOpen(a, b)),
      partners: (userId) => this.shared(() => cmd.smembers(Keys.chats(userId)), () => local.partners(userId)),
      close: async (a, b) => {
        await local.close(a, b)
        await this.shared(async () => void (await cmd.sbChatClose(a, b)), async () => {})
      }
    }
  }

  /** A chat opened from another instance, with a user here: remembered for an outage. */
  private onChatOpened(message: string): void {
    const [a, b] = message.split('\n')
    if (a && b && (this.isLocal(a) || this.isLocal(b))) void this.local.chats.open(a, b)
  }

  /** The copy of a user's chats is kept only while one side is here. */
  private async forgetLocalChats(userId: string): Promise<void> {
    for (const other of await this.local.chats.partners(userId)) {
      if (!this.isLocal(other)) await this.local.chats.close(userId, other)
    }
  }

  private keyStore(): KeyStore {
    const cmd = this.link.cmd
    const local = this.local.keys
    return {
      claim: (space, owner, id, value, ttlMs) => this.shared(async () => (await cmd.set(Keys.key(space, owner, id), value, 'PX', ttlMs, 'NX')) === 'OK', () => local.claim(space, owner, id, value, ttlMs)),
      put: (space, owner, id, value, ttlMs) => this.shared(async () => void (await cmd.set(Keys.key(space, owner, id), value, 'PX', ttlMs)), () => local.put(space, owner, id, value, ttlMs)),
      get: (space, owner, id) => this.shared(async () => (await cmd.get(Keys.key(space, owner, id))) ?? undefined, () => local.get(space, owner, id)),
      take: (space, owner, id) => this.shared(async () => (await cmd.getdel(Keys.key(space, owner, id))) ?? undefined, () => local.take(space, owner, id)),
      delete: (space, owner, id) => this.shared(async () => void (await cmd.del(Keys.key(space, owner, id))), () => local.delete(space, owner, id))
    }
  }

  /** Redis while it is healthy; this instance's own state while it is away or when a call fails. */
  private async shared<T>(viaRedis: () => Promise<T>, locally: () => Awaitable<T>): Promise<T> {
    if (!this.healthy) return locally()
    try {
      return await viaRedis()
    } catch (err) {
      this.log.debug({ err }, 'redis call failed; answered from local state')
      return locally()
    }
  }

  // ---- lease, sweep, registering again

  private async tick(): Promise<void> {
    if (this.ticking || this.closed || !this.link.up) return
    this.ticking = true
    try {
      if (Date.now() >= this.renewDue) {
        const known = await this.link.cmd.sbRenew(this.instanceId, this.timings.leaseMs)
        this.renewDue = Date.now() + this.timings.renewMs
        if (known === 0) {
          this.log.warn({}, 'redis had forgotten this instance (a pause past its lease, or data lost); registering again')
          this.resync()
        }
      }
      if (Date.now() >= this.sweepFrom) {
        const retired = await this.link.cmd.sbSweep()
        if (retired > 0) this.log.info({ retired }, 'retired instances whose lease ran out')
      }
      this.setAnswering(true)
    } catch (err) {
      this.setAnswering(false, err)
    } finally {
      this.ticking = false
    }
  }

  /** Connected but not answering (a hung Redis) counts as down, like a closed connection. */
  private setAnswering(ok: boolean, err?: unknown): void {
    if (ok === this.answering) return
    this.answering = ok
    if (ok) {
      this.log.info({}, 'redis answers again')
      this.resync()
    } else {
      this.log.warn({ err }, 'redis does not answer; serving local users only until it does')
      this.settleAll()
    }
  }

  /** Tell Redis everything this instance holds (after a reconnect, a data loss, a sweep of us). */
  private resync(): void {
    if (this.syncQueued) return
    this.syncQueued = true
    this.syncing = this.syncing.then(async () => {
      this.syncQueued = false
      if (this.closed || !this.link.up) return
      try {
        await this.register()
      } catch (err) {
        this.log.warn({ err }, 'registering with redis failed; retried when it is back')
      }
    })
  }

  private async register(): Promise<void> {
    const cmd = this.link.cmd
    const users = await this.local.presence.list()
    await cmd.sbRegister([this.instanceId, this.timings.leaseMs, CHAT_TTL_MS, ...users.flatMap((u) => [u.user_id, u.display_name])])
    this.renewDue = Date.now() + this.timings.renewMs
    // The chats this instance's users are in, which a Redis that restarted empty has forgotten.
    const pipeline = cmd.pipeline()
    for (const [a, partners] of this.local.hub.partners) {
      for (const b of partners) if (a < b) pipeline.sbChatOpen(a, b, CHAT_TTL_MS)
    }
    if (pipeline.length > 0) await pipeline.exec()
    // Leases that ran out while Redis was away may belong to instances that are coming back
    // too: give them one lease to renew before sweeping.
    this.sweepFrom = Date.now() + this.timings.leaseMs
    clearTimeout(this.reconcileTimer)
    this.reconcileTimer = setTimeout(() => void this.reconcile(), Math.min(this.timings.leaseMs, 2000))
    this.reconcileTimer.unref()
  }
}
