// One timer drives every connection's heartbeat (SPEC section 0). Connections sit in the slots of
// a wheel that turns once per WS_PING_INTERVAL; each tick visits one slot, so every connection is
// pinged once per interval, one interval after it joined, and the work is spread over the
// interval instead of arriving as one burst. A slot pinged `timeoutSlots` ticks ago is checked
// for missing pongs on the same tick, which terminates a dead peer within interval + timeout.

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

const SLOTS = 10

export class HeartbeatWheel<T extends Beating> {
  private readonly slots: Set<T>[] = Array.from({ length: SLOTS }, () => new Set<T>())
  private readonly timeoutSlots: number
  private cursor = 0
  private timer: NodeJS.Timeout | undefined

  constructor(intervalSeconds: number, timeoutSeconds: number) {
    const tickMs = (intervalSeconds * 1000) / SLOTS
    this.timeoutSlots = Math.min(SLOTS, Math.max(1, Math.ceil((timeoutSeconds * 1000) / tickMs)))
    this.timer = setInterval(() => this.tick(), tickMs)
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
    this.cursor = (this.cursor + 1) % SLOTS
    const overdue = this.slots[(this.cursor - this.timeoutSlots + SLOTS) % SLOTS]!
    for (const item of overdue) if (item.awaitingPong) item.expire()
    for (const item of this.slots[this.cursor]!) item.beat()
  }
}
