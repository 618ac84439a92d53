// Run async work one piece at a time per key, in the order it was handed in: per pair of users,
// chat messages arrive in the order they were sent. (A connection's own order is the transport's.)

import { isThenable, type Awaitable } from './awaitable.ts'

export class KeyedSerial {
  private readonly tails = new Map<string, Promise<void>>()

  run<T>(key: string, fn: () => Awaitable<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(fn)
    // Forget the key once its queue drains, so idle pairs cost no memory.
    const forget = () => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
    const tail: Promise<void> = result.then(forget, forget)
    this.tails.set(key, tail)
    return result
  }

  /**
   * Like run(), but while no key has work queued `fn` runs at once, and a synchronous result
   * needs neither the key nor a promise (the relay over the in-memory backplane). `key` is
   * called only when it is needed: to look for queued work, or to queue `fn`'s promise.
   * A synchronous throw propagates to the caller.
   */
  submit<T>(key: () => string, fn: () => Awaitable<T>): Awaitable<T> {
    if (this.tails.size > 0) {
      const k = key()
      if (this.tails.has(k)) return this.run(k, fn)
      return this.follow(k, fn())
    }
    const result = fn()
    return isThenable(result) ? this.follow(key(), result) : result
  }

  /** Work started for an idle key: later work for the key waits for `result`. */
  private follow<T>(key: string, result: Awaitable<T>): Awaitable<T> {
    if (!isThenable(result)) return result
    return this.run(key, () => result)
  }

  /** Keys with queued or running work. */
  get size(): number {
    return this.tails.size
  }
}
