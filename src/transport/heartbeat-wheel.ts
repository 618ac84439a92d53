// One timer drives every connection's heartbeat (SPEC section 0). Connections sit in the slots of
// a wheel that turns once per WS_PING_INTERVAL; each tick visits one slot, so every connection is
// pinged once per interval, one interval after it joined, and the work is spread over the
// interval instead of arriving as one burst. A slot pinged `timeoutSlots` ticks ago is checked
// for missing pongs on the same tick, which terminates a dead peer within interval + timeout.
// Ticks are ~100 ms apart: a pass then pings 1/300 of the connections at the default 30 s
// interval (~50 at 15k, about a millisecond). With 10 slots a pass of 1,500 pings held the event
// loop for ~36 ms every 3 s, the whole of a 4-instance run's cross-instance p99 (docs/capacity.md).

export interface Beating {
  /** Set when a ping goes out, cleared by the pong. */
  awaitingPong: boolean
  /** Protocol ping plus any app-level heartbeat the surface sends. */
  beat(): void
  /** Called when the previous ping was not answered in time. */
  expire(): void
  /** The wheel's slot for this item while it is on the wheel (kept on the item: no map entry each). */
  wheelSlot: number | undefined
}

/** The time between ticks the wheel aims at. */
const TICK_MS = 100
/** At least this many slots (short intervals: a tick may come sooner than TICK_MS)… */
const MIN_SLOTS = 10
/** …and at most this many (long intervals: ticks further apart, no wheel of thousands of Sets). */
const MAX_SLOTS = 600

/** The wheel's dimensions for an interval and a timeout, in seconds. */
export function wheelShape(intervalSeconds: number, timeoutSeconds: number): { slots: number; tickMs: number; timeoutSlots: number } {
  const intervalMs = intervalSeconds * 1000
  const slots = Math.min(MAX_SLOTS, Math.max(MIN_SLOTS, Math.round(intervalMs / TICK_MS)))
  const tickMs = intervalMs / slots
  return { slots, tickMs, timeoutSlots: Math.min(slots, Math.max(1, Math.ceil((timeoutSeconds * 1000) / tickMs))) }
}

export class HeartbeatWheel<T extends Beating> {
  private readonly slots: Set<T>[]
  private readonly timeoutSlots: number
  private cursor = 0
  private timer: NodeJS.Timeout | undefined

  constructor(intervalSeconds: number, timeoutSeconds: number) {
    const shape = wheelShape(intervalSeconds, timeoutSeconds)
    this.slots = Array.from({ length: shape.slots }, () => new Set<T>())
    this.timeoutSlots = shape.timeoutSlots
    this.timer = setInterval(() => this.tick(), shape.tickMs)
    this.timer.unref()
  }

  add(item: T): void {
    // The slot just visited comes round again one full interval from now.
    this.slots[this.cursor]!.add(item)
    item.wheelSlot = this.cursor
  }

  remove(item: T): void {
    const slot = item.wheelSlot
    if (slot === undefined) return
    this.slots[slot]!.delete(item)
    item.wheelSlot = undefined
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  private tick(): void {
    const n = this.slots.length
    this.cursor = (this.cursor + 1) % n
    const overdue = this.slots[(this.cursor - this.timeoutSlots + n) % n]!
    for (const item of overdue) if (item.awaitingPong) item.expire()
    for (const item of this.slots[this.cursor]!) item.beat()
  }
}
