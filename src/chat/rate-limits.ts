// Per-user rate limits for FastChat (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN), keyed by user id
// so that reconnecting or opening more tabs does not reset them. The limiters come from the
// backplane (Backplane.limiter): shared through Redis across instances, synchronous
// WindowCounters in one process. Both count in fixed 60 s windows that start at a user's first
// message, so a limit means the same either way.
import type { RateLimiterAbstract } from 'rate-limiter-flexible'
import type { Awaitable } from '../lib/awaitable.ts'
import type { Limiter } from '../backplane/backplane.ts'
import { FlexibleLimiter } from '../backplane/flexible-limiter.ts'

// ops/bench/micro-relay.ts builds its limits from here.
export { WindowCounter } from '../lib/window-counter.ts'

export type LimitKind = 'msg' | 'typing'

export class RateLimits {
  private readonly limiters: { readonly [K in LimitKind]: Limiter }

  /** A rate-limiter-flexible limiter (test fixtures build RateLimiterMemory) is adapted once here. */
  constructor(limiters: { readonly [K in LimitKind]: Limiter | RateLimiterAbstract }) {
    this.limiters = { msg: asLimiter(limiters.msg), typing: asLimiter(limiters.typing) }
  }

  /** Count one action: 0 when allowed, else the milliseconds until the next one would be. */
  consume(kind: LimitKind, userId: string): Awaitable<number> {
    return this.limiters[kind].consume(userId)
  }
}

/** rate-limiter-flexible's limiters have `penalty`; a Limiter answers in milliseconds already. */
function asLimiter(limiter: Limiter | RateLimiterAbstract): Limiter {
  return typeof (limiter as Partial<RateLimiterAbstract>).penalty === 'function' ? new FlexibleLimiter(limiter as RateLimiterAbstract) : limiter as Limiter
}
