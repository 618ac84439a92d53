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
export const epochSeconds = (ms: number = Date.now()): number => ms / 1000
/** Round to 3 decimals so envelopes stay short (0.234 ms, 1111.5 ms). */
export const round3 = (n: number): number => Math.round(n * 1000) / 1000
