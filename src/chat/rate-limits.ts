// Per-user rate limits for FastChat (CHAT_MSG_PER_MIN, CHAT_TYPING_PER_MIN), keyed by user id
// so that reconnecting or opening more tabs does not reset them. The limiters come from
// rate-limiter-flexible: RateLimiterMemory in one process, RateLimiterRedis across instances.
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'

export type LimitKind = 'msg' | 'typing'

export class RateLimits {
  constructor(private readonly limiters: { readonly [K in LimitKind]: RateLimiterAbstract }) {}

  /** Count one action: 0 when allowed, else the milliseconds until the next one would be. */
  async consume(kind: LimitKind, userId: string): Promise<number> {
    try {
      await this.limiters[kind].consume(userId)
      return 0
    } catch (res) {
      if (res instanceof RateLimiterRes) return Math.max(1, res.msBeforeNext)
      throw res
    }
  }
}
