// Presence: this instance's users → their connections (one presence entry per user however
// many connections), a mirror of who is online service-wide (fed by the backplane), and the
// PRESENCE broadcasts to this instance's connections. Broadcasts are coalesced: at most one per
// connection per debounce window, the last state always goes out, and each distinct frame is
// serialized once and the same string written to every receiver.
import type { Backplane, BackplaneHandlers, Delivery, PresenceChange, UserEntry } from '../backplane/backplane.ts'
import { presenceFrame, type PresenceEntry } from '../protocol/fastchat.ts'
import type { ChatSession } from './session.ts'

export interface PresenceOptions {
  /** PRESENCE_DEBOUNCE_MS. */
  debounceMs: number
  now?: () => number
}

interface Change {
  version: number
  user_id: string
  /** The display name before this change; undefined: the user was offline. */
  before: string | undefined
}

/** How soon to retry a connection whose PRESENCE was dropped (slow reader), at the least. */
const RETRY_DROPPED_MS = 250

export class Presence implements BackplaneHandlers {
  /** Service-wide: user_id → display_name, in the order users came online. */
  private readonly online = new Map<string, string>()
  /** This instance: user_id → identified connections. */
  private readonly local = new Map<string, Set<ChatSession>>()
  private version = 0
  /** Changes newer than the oldest version a delta connection still has to catch up from. */
  private changes: Change[] = []
  private timer: NodeJS.Timeout | undefined
  private timerDue = Infinity
  private lastFlushAt = -Infinity
  private full: { version: number; frame: string } | undefined
  /**
   * `online` as the entries of a full PRESENCE, one object per user kept between builds: a join
   * storm builds the full list for every HELLO, and making thousands of fresh entry objects
   * each time was most of that (and of the garbage collector's work).
   */
  private readonly entries = new Map<string, PresenceEntry>()
  private stopped = false
  private readonly now: () => number

  constructor(
    private readonly backplane: Backplane,
    private readonly opts: PresenceOptions
  ) {
    this.now = opts.now ?? Date.now
  }

  /** Subscribe to the backplane and load who is already online. */
  async start(): Promise<void> {
    await this.backplane.attach(this)
    for (const user of await this.backplane.presence.list()) this.apply({ ...user, online: true })
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }

  isOnline(userId: string): boolean {
    return this.online.has(userId)
  }

  displayName(userId: string): string | undefined {
    return this.online.get(userId)
  }

  /**
   * The display name of an online user, asking the backplane when this instance has not heard
   * of them yet: a user who just joined on another instance can be messaged at once, before
   * the join event arrives here (their id may have come some other way than PRESENCE).
   */
  async resolve(userId: string): Promise<string | undefined> {
    return this.online.get(userId) ?? this.backplane.presence.lookup(userId)
  }

  /** Users online service-wide. */
  get size(): number {
    return this.online.size
  }

  sessionsOf(userId: string): ReadonlySet<ChatSession> {
    return this.local.get(userId) ?? EMPTY
  }

  /** An identified connection joins: the user comes online (or is renamed) service-wide. */
  async add(session: ChatSession & { user: UserEntry }): Promise<void> {
    const user = session.user
    await this.backplane.presence.join(user)
    // Applied here as well as through the backplane's echo, so the joiner's own list has it.
    this.apply({ ...user, online: true })
    let sessions = this.local.get(user.user_id)
    if (!sessions) this.local.set(user.user_id, (sessions = new Set()))
    sessions.add(session)
  }

  /** A connection leaves; true when that took its user offline service-wide. */
  async remove(session: ChatSession): Promise<boolean> {
    const user = session.user
    const sessions = user && this.local.get(user.user_id)
    if (!user || !sessions?.delete(session) || sessions.size > 0) return false
    this.local.delete(user.user_id)
    const offline = await this.backplane.presence.leave(user.user_id)
    if (offline) this.apply({ ...user, online: false })
    return offline
  }

  /** The full list, right after HELLO_ACK; later changes come from the broadcasts. */
  sendFull(session: ChatSession): void {
    session.peer.send(this.fullFrame())
    session.presenceVersion = this.version
    session.presenceSentAt = this.now()
  }

  // ---- BackplaneHandlers

  presence(change: PresenceChange): void {
    this.apply(change)
  }

  deliver(userId: string, delivery: Delivery): number {
    let taken = 0
    for (const s of this.sessionsOf(userId)) {
      if (s.closed || s.ref === delivery.except) continue
      if (delivery.droppable ? s.peer.sendDroppable(delivery.frame) : s.peer.send(delivery.frame)) taken++
    }
    return taken
  }

  // ---- the mirror and its broadcasts

  /** Idempotent: the backplane echoes changes this instance already applied. */
  private apply(change: PresenceChange): void {
    const before = this.online.get(change.user_id)
    const after = change.online ? change.display_name : undefined
    if (before === after) return
    this.version++
    this.changes.push({ version: this.version, user_id: change.user_id, before })
    if (after === undefined) {
      this.online.delete(change.user_id)
      this.entries.delete(change.user_id)
    } else {
      this.online.set(change.user_id, after) // a rename keeps the user's place in the list
      this.entries.set(change.user_id, { user_id: change.user_id, display_name: after, online: true })
    }
    this.schedule(Math.max(this.now(), this.lastFlushAt + this.opts.debounceMs))
  }

  private schedule(due: number): void {
    if (this.stopped || (this.timer && this.timerDue <= due)) return
    clearTimeout(this.timer)
    this.timerDue = due
    this.timer = setTimeout(() => this.flush(), Math.max(0, due - this.now()))
    this.timer.unref()
  }

  /** The full list at the current version, serialized once however many flushes send it. */
  private fullFrame(): string {
    if (this.full?.version !== this.version) this.full = { version: this.version, frame: presenceFrame([...this.entries.values()]) }
    return this.full.frame
  }

  /** Changed entries since `version`, or undefined when nothing visible changed. */
  private deltaFrame(version: number): string | undefined {
    const firstBefore = new Map<string, string | undefined>()
    // `changes` is in version order: start at the first one newer than `version`.
    let lo = 0
    let hi = this.changes.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.changes[mid]!.version > version) hi = mid
      else lo = mid + 1
    }
    for (let i = lo; i < this.changes.length; i++) {
      const c = this.changes[i]!
      if (!firstBefore.has(c.user_id)) firstBefore.set(c.user_id, c.before)
    }
    const users: PresenceEntry[] = []
    for (const [user_id, before] of firstBefore) {
      const now = this.online.get(user_id)
      if (now === before) continue // left and came back under the same name: nothing to say
      users.push(now === undefined ? { user_id, display_name: before!, online: false } : { user_id, display_name: now, online: true })
    }
    return users.length ? presenceFrame(users) : undefined
  }

  private flush(): void {
    this.timer = undefined
    this.timerDue = Infinity
    const now = this.now()
    this.lastFlushAt = now
    const deltas = new Map<number, string | undefined>() // baseline version → frame
    let retryAt = Infinity
    let oldestDelta = this.version
    for (const sessions of this.local.values()) {
      for (const s of sessions) {
        if (s.closed || s.presenceVersion < 0 || s.presenceVersion === this.version) continue
        const readyAt = s.presenceSentAt + this.opts.debounceMs
        if (readyAt > now) {
          retryAt = Math.min(retryAt, readyAt)
        } else {
          let frame: string | undefined
          if (s.delta) {
            if (!deltas.has(s.presenceVersion)) deltas.set(s.presenceVersion, this.deltaFrame(s.presenceVersion))
            frame = deltas.get(s.presenceVersion)
          } else {
            frame = this.fullFrame()
          }
          if (frame === undefined) {
            s.presenceVersion = this.version // nothing it can see changed; nothing sent
          } else if (s.peer.sendDroppable(frame)) {
            s.presenceVersion = this.version
            s.presenceSentAt = now
          } else {
            retryAt = Math.min(retryAt, now + Math.max(this.opts.debounceMs, RETRY_DROPPED_MS))
          }
        }
        if (s.delta) oldestDelta = Math.min(oldestDelta, s.presenceVersion)
      }
    }
    // Only delta connections still behind need the change log; the rest of it can go.
    const keepFrom = this.changes.findIndex((c) => c.version > oldestDelta)
    this.changes = keepFrom === -1 ? [] : this.changes.slice(keepFrom)
    if (retryAt !== Infinity) this.schedule(retryAt)
  }
}

const EMPTY: ReadonlySet<ChatSession> = new Set()
