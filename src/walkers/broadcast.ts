// Fan-out for `broadcast: true` walkers: a reply goes to every socket connected to the walker,
// on every instance. The backplane provides it (Backplane.fanout('walker'): in process, or over
// Redis with SPEC section 8), so routes see only this name for it and never change.
import type { Fanout, FanoutDelivery } from '../backplane/backplane.ts'

/** Hands a serialized reply frame to one subscribed socket. */
export type BroadcastDelivery = FanoutDelivery

/**
 * Topics are walker names. Subscribers on this instance are called before publish returns, so
 * a caller's own replies keep their order; other instances may receive it later.
 */
export type WalkerBroadcaster = Fanout
