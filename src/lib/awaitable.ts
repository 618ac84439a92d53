// Values that are usually there already and only sometimes must be waited for: the in-memory
// backplane answers at once, Redis through a promise. An `async` function pays a promise and a
// microtask for every `await`, even of a plain value; on the chat relay's hot path that was
// a dozen per message. A generator that `yield`s such values, run by runSyncFirst, reads like
// the async function it replaces but stays synchronous while what it yields is plain, and
// becomes a promise only at the first thenable.

export type Awaitable<T> = T | PromiseLike<T>

export const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'

/**
 * A generator whose `yield x` means `await x`. Declare the result's type at the yield
 * (`const n: number = yield store.count()`): TypeScript cannot type it from the yielded value.
 */
export type SyncFirst<T> = Generator<unknown, T, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- see above

/**
 * Runs `work` like an async function runs: each yielded thenable is awaited and its result (or
 * its rejection, thrown at the yield) sent back in. While the yielded values are plain they go
 * straight back, synchronously; the return value is then the plain result, and a throw is a
 * synchronous throw. From the first thenable on it is a promise.
 */
export function runSyncFirst<T>(work: SyncFirst<T>): T | Promise<T> {
  let input: unknown
  for (;;) {
    const step = work.next(input)
    if (step.done) return step.value
    if (isThenable(step.value)) return finishAsync(work, step.value)
    input = step.value
  }
}

async function finishAsync<T>(work: SyncFirst<T>, pending: PromiseLike<unknown>): Promise<T> {
  let waitFor: unknown = pending
  for (;;) {
    let step: IteratorResult<unknown, T>
    try {
      const value = await waitFor
      step = work.next(value)
    } catch (err) {
      // A rejection is thrown into the generator at its yield (where a try/catch may take it);
      // a throw out of the generator itself lands here too and throw() passes it on, finished.
      step = work.throw(err)
    }
    if (step.done) return step.value
    waitFor = step.value
  }
}
