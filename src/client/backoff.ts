// Reconnect delays: exponential backoff with full jitter (a uniformly random wait between 0 and
// the exponential ceiling). Clients dropped together by a restart then come back spread out
// instead of in one synchronized wave.

export interface BackoffOptions {
  /** Ceiling of the first retry. */
  baseMs: number
  /** Each further retry multiplies the ceiling by this. */
  factor: number
  /** The ceiling never grows past this. */
  capMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, factor: 2, capMs: 30_000 }

/** The longest wait before retry number `attempt` (0 = the first retry): min(cap, base · factor^attempt). */
export function backoffCeiling(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF): number {
  return Math.min(o.capMs, o.baseMs * o.factor ** attempt)
}

/** The wait before retry `attempt`: random() · ceiling, so within [0, ceiling). */
export function backoffDelay(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, o))
}
