// Run async work one piece at a time, in the order it was handed in: per connection (frames are
// answered in order) and per key (per pair of users, messages arrive in the order sent).

const noop = () => {}

export class Serial {
  private tail: Promise<void> = Promise.resolve()

  /** Runs `fn` after everything queued before it; a failure does not stop the queue. */
  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(fn)
    this.tail = result.then(noop, noop)
    return result
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
