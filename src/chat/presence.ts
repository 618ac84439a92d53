// Presence: who is online service-wide (a mirror fed by the backplane, one entry per user however
// many connections), its versions, and the PRESENCE broadcasts to the local hub's connections.
// Broadcasts are coalesced: at most one per connection per debounce window, the last state always
// goes out, and each distinct frame is built once and the same frame written to every receiver.
// Entries are serialized once, when their user joins or is renamed, and full lists and deltas are
// slices of logs those entries are appended to, never copied (presence-frames.ts).
import type { Awaitable } from '../lib/awaitable.ts'
import { KeyedSerial } from '../lib/keyed-serial.ts'
import type { Backplane, BackplaneHandlers, Delivery, PresenceChange, UserEntry } from '../backplane/backplane.ts'
import type { LocalHub } from './hub.ts'
import type { OutText, TextParts } from '../lib/text-parts.ts'
import { EntryLog, entryJson, frameOf, framePartsOf } from './presence-frames.ts'
import type { ChatSession } from './session.ts'

export interface PresenceOptions {
  /** PRESENCE_DEBOUNCE_MS. */
  debounceMs: number
  now?: () => number
}

interface OnlineUser {
  name: string
  /** The user's entry in a PRESENCE list, serialized when they joined or were renamed. */
  entry: string
}

interface Change {
  version: number
  user_id: string
  /** The display name before this change; undefined: the user was offline. */
  before: string | undefined
  /**
   * Where `changeLog` holds what a delta says of this change when it is the user's only one
   * since the receiver's baseline: the entry as it became, or the user offline under the name
   * they left with.
   */
  at: number
}

/** How soon to retry a connection whose PRESENCE was dropped (slow reader), at the least. */
const RETRY_DROPPED_MS = 250

/**
 * Full lists go to one connection at most at this many bytes per second, so the window grows
 * with the list (docs/fastchat.md has the numbers); delta connections are not affected.
 */
export const FULL_LIST_BYTES_PER_SEC = 512 * 1024

/** What reaches this instance from the backplane: deliveries go to the hub, changes to presence. */
export function backplaneHandlers(presence: Presence, hub: LocalHub): BackplaneHandlers {
  return {
    presence: (change) => presence.presence(change),
    deliver: (userId, delivery) => hub.deliver(userId, delivery)
  }
}

export class Presence implements Pick<BackplaneHandlers, 'presence'> {
  private lostListener: ((userId: string) => void) | undefined
  /** Service-wide: user_id → name and entry, in the order users came online. */
  private readonly online = new Map<string, OnlineUser>()
  /**
   * A user's joins and leaves here, one at a time in the order they came: a tab closing while
   * another tab's HELLO is still joining (a reconnect) must not count as the user's last
   * connection, or its leave lands after the join and takes the user offline service-wide while
   * the new tab stays connected, unsubscribed from the user's deliveries (over Redis).
   */
  private readonly turns = new KeyedSerial()
  private version = 0
  /** Changes newer than the oldest version a delta connection still has to catch up from. */
  private changes: Change[] = []
  /** The changes' entries in order: a delta from a baseline is the slice after its last change. */
  private readonly changeLog = new EntryLog()
  /** user_id → the version of their latest change still in `changes`. */
  private readonly lastChange = new Map<string, number>()
  /**
   * The highest version at which a user changed and then changed again. From a baseline at or
   * above it every user changed at most once, so a delta is simply the entries of the changes
   * after the baseline, in order; below it, a delta is worked out user by user.
   */
  private changedTwiceAt = 0
  private timer: NodeJS.Timeout | undefined
  private timerDue = Infinity
  private lastFlushAt = -Infinity
  private full: { version: number; frame: TextParts } | undefined
  /**
   * `online`'s entries in order, when `listed`: a join appends to it; a leave or rename clears it
   * (rebuilt when next needed). A join storm sends a full list for every HELLO, each a slice of
   * this log (see fullFrame()).
   */
  private readonly list = new EntryLog()
  private listed = true
  private built = 0
  private stopped = false
  private readonly now: () => number

  constructor(
    private readonly backplane: Backplane,
    private readonly opts: PresenceOptions,
    /** This instance's connections: whom PRESENCE goes to, and where deliveries land. */
    private readonly hub: LocalHub
  ) {
    this.now = opts.now ?? Date.now
  }

  /** Subscribe to the backplane (deliveries to the hub, changes here) and load who is online. */
  async start(): Promise<void> {
    await this.backplane.attach(backplaneHandlers(this, this.hub))
    for (const user of await this.backplane.presence.list()) this.apply({ ...user, online: true })
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** This instance's identified connections, by user (read by the admin console, src/admin). */
  get local(): LocalHub {
    return this.hub
  }

  isOnline(userId: string): boolean {
    return this.online.has(userId)
  }

  displayName(userId: string): string | undefined {
    return this.online.get(userId)?.name
  }

  /**
   * The display name of an online user, asking the backplane when this instance has not heard
   * of them yet: a user who just joined on another instance can be messaged at once, before
   * the join event arrives here (their id may have come some other way than PRESENCE).
   */
  resolve(userId: string): Awaitable<string | undefined> {
    return this.online.get(userId)?.name ?? this.backplane.presence.lookup(userId)
  }

  /** PRESENCE frames built so far: one per distinct frame, however many receivers it goes to. */
  get framesBuilt(): number {
    return this.built
  }

  /** Users online service-wide. */
  get size(): number {
    return this.online.size
  }

  /**
   * An identified connection joins: the user comes online (or is renamed) service-wide, and
   * only then does the hub hold the connection and deliveries reach it.
   */
  add(session: ChatSession & { user: UserEntry }): Promise<void> {
    const user = session.user
    return this.turns.run(user.user_id, async () => {
      await this.backplane.presence.join(user)
      // Applied here as well as through the backplane's echo, so the joiner's own list has it.
      this.apply({ ...user, online: true })
      this.hub.add(session)
    })
  }

  /** A connection leaves the hub; true when that took its user offline service-wide. */
  remove(session: ChatSession): Promise<boolean> {
    const user = session.user
    if (!user) return Promise.resolve(false)
    return this.turns.run(user.user_id, async () => {
      if (!this.hub.remove(session)) return false
      const offline = await this.backplane.presence.leave(user.user_id)
      if (offline) this.apply({ ...user, online: false })
      return offline
    })
  }

  /** The full list, right after HELLO_ACK; later changes come from the broadcasts. */
  sendFull(session: ChatSession): void {
    session.peer.send(this.fullFrame(), 'PRESENCE')
    session.presenceVersion = this.version
    session.presenceSentAt = this.now()
  }

  /** The backplane's handler: a change somewhere in the service (this instance's own ones too). */
  presence(change: PresenceChange): void {
    this.apply(change)
    if (!change.online && change.lost) this.lostListener?.(change.user_id)
  }

  /** Who hears of a user gone offline without a goodbye (PresenceChange.lost): the typing relay. */
  onLost(listener: (userId: string) => void): void {
    this.lostListener = listener
  }

  /** Write to this instance's connections of `userId` only, never through the backplane. */
  deliverHere(userId: string, delivery: Delivery): number {
    return this.hub.deliver(userId, delivery)
  }

  // ---- the mirror, its change log and its broadcasts

  /** Idempotent: the backplane echoes changes this instance already applied. */
  private apply(change: PresenceChange): void {
    const id = change.user_id
    const current = this.online.get(id)
    const before = current?.name
    const after = change.online ? change.display_name : undefined
    if (before === after) return
    this.version++
    let entry: string
    if (after === undefined) {
      entry = entryJson(id, before!, false)
      this.online.delete(id)
      this.listed = false
    } else {
      entry = entryJson(id, after, true)
      this.online.set(id, { name: after, entry }) // a rename keeps the user's place in the list
      if (current) this.listed = false
      else if (this.listed) this.list.append(entry)
    }
    this.record({ version: this.version, user_id: id, before, at: this.changeLog.append(entry) })
    this.schedule(Math.max(this.now(), this.lastFlushAt + this.opts.debounceMs))
  }

  private record(change: Change): void {
    const previous = this.lastChange.get(change.user_id)
    if (previous !== undefined) this.changedTwiceAt = Math.max(this.changedTwiceAt, previous)
    this.lastChange.set(change.user_id, change.version)
    this.changes.push(change)
  }

  private schedule(due: number): void {
    if (this.stopped || (this.timer && this.timerDue <= due)) return
    clearTimeout(this.timer)
    this.timerDue = due
    this.timer = setTimeout(() => this.flush(), Math.max(0, due - this.now()))
    this.timer.unref()
  }

  /** Every frame is made here or in framed(), so `framesBuilt` counts them all. */
  private frame(body: string): string {
    this.built++
    return frameOf(body)
  }

  private framed(body: Buffer): TextParts {
    this.built++
    return framePartsOf(body)
  }

  /** The full list at the current version, built once however many flushes send it. */
  private fullFrame(): TextParts {
    if (this.full?.version !== this.version) {
      if (!this.listed) {
        // Sized for the list as it is (one byte per character, a comma each): no growths on the
        // way, and no buffer twice the list's size kept alive by the slices sockets still hold.
        let chars = 0
        for (const u of this.online.values()) chars += u.entry.length + 1
        this.list.clear(chars)
        for (const u of this.online.values()) this.list.append(u.entry)
        this.listed = true
      }
      this.full = { version: this.version, frame: this.framed(this.list.body()) }
    }
    return this.full.frame
  }

  /** The index of the first change newer than `version` (`changes` is in version order). */
  private firstAfter(version: number): number {
    let lo = 0
    let hi = this.changes.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.changes[mid]!.version > version) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /**
   * A delta's body worked out user by user: every user who changed since `version` and is not
   * back where they were, in the order of their first change, with their entry as it is now.
   */
  private changedSince(version: number): string {
    const firstBefore = new Map<string, string | undefined>()
    for (let i = this.firstAfter(version); i < this.changes.length; i++) {
      const c = this.changes[i]!
      if (!firstBefore.has(c.user_id)) firstBefore.set(c.user_id, c.before)
    }
    const parts: string[] = []
    for (const [id, before] of firstBefore) {
      const now = this.online.get(id)
      if (now?.name === before) continue // left and came back under the same name: nothing to say
      parts.push(now === undefined ? entryJson(id, before!, false) : now.entry)
    }
    return parts.join(',')
  }

  /**
   * The delta frames for these baselines (undefined: nothing visible changed). Where no user
   * changed since the baseline twice, a baseline's delta is the entries of the changes after it,
   * in order: a slice of the change log, however many baselines share its bytes.
   */
  private deltaFrames(baselines: Set<number>): Map<number, OutText | undefined> {
    const frames = new Map<number, OutText | undefined>()
    for (const b of baselines) {
      if (b >= this.changedTwiceAt) {
        const from = this.firstAfter(b)
        frames.set(b, from === this.changes.length ? undefined : this.framed(this.changeLog.bodyFrom(this.changes[from]!.at)))
        continue
      }
      const changed = this.changedSince(b)
      frames.set(b, changed === '' ? undefined : this.frame(changed))
    }
    return frames
  }

  private flush(): void {
    this.timer = undefined
    this.timerDue = Infinity
    const now = this.now()
    this.lastFlushAt = now
    const due: ChatSession[] = []
    const baselines = new Set<number>()
    let retryAt = Infinity
    let oldestDelta = this.version
    const fullWindow = this.fullListWindow()
    for (const sessions of this.hub.perUser()) {
      for (const s of sessions) {
        if (s.closed || s.presenceVersion < 0 || s.presenceVersion === this.version) continue
        const readyAt = s.presenceSentAt + (s.delta ? this.opts.debounceMs : fullWindow)
        if (readyAt <= now) {
          due.push(s)
          if (s.delta) baselines.add(s.presenceVersion)
        } else {
          retryAt = Math.min(retryAt, readyAt)
          if (s.delta) oldestDelta = Math.min(oldestDelta, s.presenceVersion)
        }
      }
    }
    const deltas = this.deltaFrames(baselines)
    for (const s of due) {
      const frame = s.delta ? deltas.get(s.presenceVersion) : this.fullFrame()
      if (frame === undefined) {
        s.presenceVersion = this.version // nothing it can see changed; nothing sent
      } else if (s.peer.sendDroppable(frame, 'PRESENCE')) {
        s.presenceVersion = this.version
        s.presenceSentAt = now
      } else {
        retryAt = Math.min(retryAt, now + Math.max(this.opts.debounceMs, RETRY_DROPPED_MS))
      }
      if (s.delta) oldestDelta = Math.min(oldestDelta, s.presenceVersion)
    }
    this.forget(oldestDelta)
    if (retryAt !== Infinity) this.schedule(retryAt)
  }

  /** How long a full-mode connection waits between lists: the debounce, or longer for long lists. */
  private fullListWindow(): number {
    // The last list built stands for the next one's size (a storm changes it a little per flush).
    const bytes = this.full?.frame.byteLength ?? 0
    return Math.max(this.opts.debounceMs, (bytes * 1000) / FULL_LIST_BYTES_PER_SEC)
  }

  /** Only delta connections still behind `oldest` need the change log; the rest of it can go. */
  private forget(oldest: number): void {
    let keep = 0
    while (keep < this.changes.length && this.changes[keep]!.version <= oldest) {
      const c = this.changes[keep++]!
      if (this.lastChange.get(c.user_id) === c.version) this.lastChange.delete(c.user_id)
    }
    if (keep > 0) this.changes = this.changes.slice(keep)
    this.changeLog.dropBefore(this.changes[0]?.at ?? this.changeLog.end)
  }
}
