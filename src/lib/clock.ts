// The two time formats clients expect: FastChat uses ISO-8601 UTC strings, the smoke-test
// dialects use epoch seconds as floats (SPEC section 0, "Time").
let isoMs = NaN
let iso = ''
/** Formatted once per millisecond: every chat message carries one, often many per millisecond. */
export const isoNow = (): string => {
  const ms = Date.now()
  if (ms !== isoMs) {
    isoMs = ms
    iso = new Date(ms).toISOString()
  }
  return iso
}
/**
 * A float as the smoke-test dialects' Python servers write one (SPEC section 0: epoch seconds as
 * floats, `1699564800.123`; `"connection_age_seconds":30.0`): with a fraction always. JavaScript
 * writes a whole number without one (`1699564800`), which a client checking for a float refuses,
 * once a second for timestamps. For values of our own only (times, ages), never a client's.
 */
export function floatJson(n: number): string {
  return Number.isInteger(n) ? `${n}.0` : String(n)
}

/** Epoch seconds as floatJson writes them: the smoke-test dialects' timestamps. */
export const secondsJson = (ms: number = Date.now()): string => floatJson(ms / 1000)
/** Round to 3 decimals so envelopes stay short (0.234 ms, 1111.5 ms). */
export const round3 = (n: number): number => Math.round(n * 1000) / 1000
