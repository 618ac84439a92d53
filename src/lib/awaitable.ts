// Values that are usually there already and only sometimes must be waited for: the in-memory
// backplane answers at once, Redis through a promise.

export type Awaitable<T> = T | PromiseLike<T>

export const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'

/** Work nobody waits for, where a failure is not worth more than the work (its caller says why). */
export function unawaited(work: Awaitable<unknown>): void {
  if (isThenable(work)) Promise.resolve(work).catch(() => {})
}
