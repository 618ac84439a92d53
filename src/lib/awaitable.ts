// Values that are usually there already and only sometimes must be waited for: the in-memory
// backplane answers at once, Redis through a promise.

export type Awaitable<T> = T | PromiseLike<T>

export const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'

/** Work nobody waits for, where a failure is not worth more than the work (its caller says why). */
export function unawaited(work: Awaitable<unknown>): void {
  if (isThenable(work)) Promise.resolve(work).catch(() => {})
}

/** What `within` answers when the time ran out first. */
export const LATE = Symbol('late')

/**
 * `work`'s value, or LATE when it has not settled within `ms` (the work goes on; a rejection
 * within the time rejects). The timer is cleared either way: callers may wait on many.
 */
export async function within<T>(work: PromiseLike<T>, ms: number): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([work, new Promise<typeof LATE>((resolve) => (timer = setTimeout(resolve, ms, LATE)))])
  } finally {
    clearTimeout(timer)
  }
}
