// The two Fanouts: LocalFanout delivers to subscribers in this process (the memory backplane's,
// shared by the instances on one hub); BusFanout adds a bus channel per topic (Redis pub/sub)
// that the instances with subscribers on the topic listen to.
import type { Fanout, FanoutDelivery } from './backplane.ts'

/**
 * Channels between instances (RedisLink implements it). Delivery is at most once and only
 * while the bus is up.
 */
export interface MessageBus {
  publish(channel: string, message: string): void
  subscribe(channel: string): Promise<void>
  unsubscribe(channel: string): void
  /** Messages on channels starting with `prefix` go to `handler` with the rest of the name. */
  route(prefix: string, handler: (rest: string, message: string) => void): void
}

/** One process: a set of deliveries per topic. */
export class LocalFanout implements Fanout {
  private readonly subscribers = new Map<string, Set<FanoutDelivery>>()

  publish(topic: string, frame: string): void {
    const set = this.subscribers.get(topic)
    if (!set) return
    for (const deliver of set) deliver(frame)
  }

  subscribe(topic: string, deliver: FanoutDelivery): () => void {
    let set = this.subscribers.get(topic)
    if (!set) this.subscribers.set(topic, (set = new Set()))
    set.add(deliver)
    return () => {
      set.delete(deliver)
      if (set.size === 0 && this.subscribers.get(topic) === set) this.subscribers.delete(topic)
    }
  }

  /** Subscribers of `topic` in this process (tests, metrics). */
  count(topic: string): number {
    return this.subscribers.get(topic)?.size ?? 0
  }
}

/**
 * Several instances: this instance's subscribers as above, and a bus channel per topic that the
 * instances with subscribers on it subscribe to. A frame reaches the other instances at most
 * once, and not at all while the bus is down (nothing is acknowledged, so nothing waits).
 */
export class BusFanout implements Fanout {
  private readonly local = new LocalFanout()

  /** `channelPrefix` + topic is the topic's channel; `instanceId` marks our own frames. */
  constructor(private readonly bus: MessageBus, private readonly instanceId: string, private readonly channelPrefix: string) {
    bus.route(channelPrefix, (topic, message) => {
      const cut = message.indexOf('\n')
      // Our own frames reached this instance's subscribers before publish returned.
      if (cut < 0 || message.slice(0, cut) === instanceId) return
      this.local.publish(topic, message.slice(cut + 1))
    })
  }

  publish(topic: string, frame: string): void {
    this.local.publish(topic, frame)
    this.bus.publish(this.channelPrefix + topic, `${this.instanceId}\n${frame}`)
  }

  subscribe(topic: string, deliver: FanoutDelivery): () => void {
    if (this.local.count(topic) === 0) void this.bus.subscribe(this.channelPrefix + topic)
    const unsubscribe = this.local.subscribe(topic, deliver)
    return () => {
      unsubscribe()
      if (this.local.count(topic) === 0) this.bus.unsubscribe(this.channelPrefix + topic)
    }
  }

  count(topic: string): number {
    return this.local.count(topic)
  }
}
