// Fan-out for `broadcast: true` walkers: a reply goes to every socket connected to the walker.
// Routes only see this interface, so several instances share it (SPEC section 8) by swapping
// the in-memory implementation for the one over a MessageBus (Redis), without touching a route.
import type { MessageBus } from '../backplane/backplane.ts'

/** Hands a serialized reply frame to one subscribed socket. */
export type BroadcastDelivery = (frame: string) => void

export interface WalkerBroadcaster {
  /**
   * Send `frame` to every subscriber of `walker`, on every instance. Subscribers on this
   * instance must be called before publish returns, so a caller's own replies keep their order;
   * other instances may receive it later.
   */
  publish(walker: string, frame: string): void
  /** Receive the frames published for `walker`. Returns the unsubscribe, called on close. */
  subscribe(walker: string, deliver: BroadcastDelivery): () => void
}

/** One process: a set of deliveries per walker name. */
export class LocalWalkerBroadcaster implements WalkerBroadcaster {
  private readonly subscribers = new Map<string, Set<BroadcastDelivery>>()

  publish(walker: string, frame: string): void {
    const set = this.subscribers.get(walker)
    if (!set) return
    for (const deliver of set) deliver(frame)
  }

  subscribe(walker: string, deliver: BroadcastDelivery): () => void {
    let set = this.subscribers.get(walker)
    if (!set) this.subscribers.set(walker, (set = new Set()))
    set.add(deliver)
    return () => {
      set.delete(deliver)
      if (set.size === 0 && this.subscribers.get(walker) === set) this.subscribers.delete(walker)
    }
  }

  /** Subscribers of `walker` on this instance (tests, metrics). */
  count(walker: string): number {
    return this.subscribers.get(walker)?.size ?? 0
  }
}

/**
 * Several instances: this instance's sockets as above, and a bus channel per walker that the
 * instances with sockets on it subscribe to. A frame reaches the other instances at most once,
 * and not at all while the bus is down (a broadcast is not acknowledged, so nothing waits).
 */
export class BusWalkerBroadcaster implements WalkerBroadcaster {
  private readonly local = new LocalWalkerBroadcaster()

  /** `channelPrefix` + walker name is the walker's channel; `instanceId` marks our own frames. */
  constructor(private readonly bus: MessageBus, private readonly instanceId: string, private readonly channelPrefix: string) {
    bus.route(channelPrefix, (walker, message) => {
      const cut = message.indexOf('\n')
      // Our own frames reached this instance's sockets before publish returned.
      if (cut < 0 || message.slice(0, cut) === instanceId) return
      this.local.publish(walker, message.slice(cut + 1))
    })
  }

  publish(walker: string, frame: string): void {
    this.local.publish(walker, frame)
    this.bus.publish(this.channelPrefix + walker, `${this.instanceId}\n${frame}`)
  }

  subscribe(walker: string, deliver: BroadcastDelivery): () => void {
    if (this.local.count(walker) === 0) void this.bus.subscribe(this.channelPrefix + walker)
    const unsubscribe = this.local.subscribe(walker, deliver)
    return () => {
      unsubscribe()
      if (this.local.count(walker) === 0) this.bus.unsubscribe(this.channelPrefix + walker)
    }
  }

  count(walker: string): number {
    return this.local.count(walker)
  }
}
