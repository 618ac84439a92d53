// Per-user rate limits for FastChat (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN), keyed by user id
// so that reconnecting or opening more tabs does not reset them. The limiters come from the
// backplane (Backplane.limiter): shared through Redis across instances, synchronous
// WindowCounters in one process. Both count in fixed 60 s windows that start at a user's first
// message, so a limit means the same either way.
import type { Awaitable } from '../lib/awaitable.ts'
import type { Limiter } from '../backplane/backplane.ts'

export type LimitKind = 'msg' | 'typing'

export class RateLimits {
  constructor(private readonly limiters: { readonly [K in LimitKind]: Limiter }) {}

  /** Count one action: 0 when allowed, else the milliseconds until the next one would be. */
  consume(kind: LimitKind, userId: string): Awaitable<number> {
    return this.limiters[kind].consume(userId)
  }
}
