// Fan-out for `broadcast: true` walkers: a reply goes to every socket connected to the walker.
// Routes only see this interface, so several instances can share it (SPEC section 8) by
// swapping the in-memory implementation for one over the backplane, without touching a route.

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
