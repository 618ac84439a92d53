// Run async work one piece at a time, in the order it was handed in: per connection (frames are
// answered in order) and per key (per pair of users, messages arrive in the order sent).

const noop = () => {}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'

export class Serial {
  private tail: Promise<void> = Promise.resolve()
  private pending = 0

  /** Nothing queued or running: work handed in now may run at once without breaking order. */
  get idle(): boolean {
    return this.pending === 0
  }

  /** Runs `fn` after everything queued before it; a failure does not stop the queue. */
  run<T>(fn: () => T | Promise<T>): Promise<T> {
    this.pending++
    const result = this.tail.then(fn)
    this.tail = result.then(noop, noop).finally(() => {
      this.pending--
    })
    return result
  }

  /**
   * Like run(), but when the queue is idle `fn` runs synchronously, and a synchronous result
   * costs no promise at all (the hot path: echo frames). Returns the promise only when there is
   * async work to wait for. A synchronous throw propagates to the caller.
   */
  submit(fn: () => void | Promise<void>): void | Promise<void> {
    if (this.pending > 0) return this.run(fn)
    const result = fn()
    if (!isThenable(result)) return
    this.pending++
    const p = Promise.resolve(result)
    this.tail = p.then(noop, noop).finally(() => {
      this.pending--
    })
    return p
  }
}

export class KeyedSerial {
  private readonly tails = new Map<string, Promise<void>>()

  run<T>(key: string, fn: () => T | Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(fn)
    const tail = result.then(noop, noop)
    this.tails.set(key, tail)
    // Forget the key once its queue drains, so idle pairs cost no memory.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return result
  }

  /** Keys with queued or running work. */
  get size(): number {
    return this.tails.size
  }
}
