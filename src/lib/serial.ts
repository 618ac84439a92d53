// Run async work one piece at a time, in the order it was handed in: per connection (frames are
// answered in order) and per key (per pair of users, messages arrive in the order sent).

import { isThenable, type Awaitable } from './awaitable.ts'

export class Serial {
  /** The last piece of work handed in; none yet on a connection that never queued any. */
  private tail: Promise<void> | undefined
  private pending = 0
  /** Counts a piece of work finished; made on first use, so an idle connection carries none. */
  private settled: (() => void) | undefined

  /** Nothing queued or running: work handed in now may run at once without breaking order. */
  get idle(): boolean {
    return this.pending === 0
  }

  /** Runs `fn` after everything queued before it; a failure does not stop the queue. */
  run<T>(fn: () => Awaitable<T>): Promise<T> {
    this.pending++
    const result = (this.tail ?? Promise.resolve()).then(fn)
    this.tail = result.then(this.onSettled(), this.onSettled())
    return result
  }

  /**
   * Like run(), but when the queue is idle `fn` runs synchronously, and a synchronous result
   * costs no promise at all (the hot path: echo frames). Returns the promise only when there is
   * async work to wait for. A synchronous throw propagates to the caller.
   */
  submit(fn: () => Awaitable<void>): void | Promise<void> {
    if (this.pending > 0) return this.run(fn)
    return this.follow(fn())
  }

  /**
   * The result of work the caller ran itself because the queue was `idle` (so no closure had
   * to be made for it): a promise becomes the queue's tail, which later work waits for.
   */
  follow(result: Awaitable<void>): void | Promise<void> {
    if (!isThenable(result)) return
    this.pending++
    const p = Promise.resolve(result)
    this.tail = p.then(this.onSettled(), this.onSettled())
    return p
  }

  private onSettled(): () => void {
    return (this.settled ??= () => {
      this.pending--
    })
  }
}

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
