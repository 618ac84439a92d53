// A rate-limiter-flexible limiter (RateLimiterRedis across instances, RateLimiterMemory in
// tests) behind the Limiter interface: its rejection, a RateLimiterRes, becomes the wait in ms.
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import type { Limiter } from './backplane.ts'

export class FlexibleLimiter implements Limiter {
  constructor(readonly inner: RateLimiterAbstract) {}

  consume(key: string): Promise<number> {
    return this.inner.consume(key).then(() => 0, (res: unknown) => {
      if (res instanceof RateLimiterRes) return Math.max(1, res.msBeforeNext)
      throw res // a store error with no insurance limiter to take over
    })
  }
}
