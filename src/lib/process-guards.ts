// A rejection no handler owns is logged and counted, not fatal: Node's default would end every
// user's connection. An uncaught *exception* still ends the process (src/server.ts): after one,
// Node's state may be inconsistent.

export interface RejectionLog {
  error(obj: object, msg: string): void
}

/** Install the guard; returns its removal (tests). */
export function guardUnhandledRejections(log: RejectionLog, count: () => void = () => {}): () => void {
  const onRejection = (reason: unknown) => {
    // Not swallowed: an error line with the stack, and a counter to alert on.
    const err = reason instanceof Error ? reason : new Error(`non-Error rejection: ${describe(reason)}`)
    log.error({ err }, 'unhandled promise rejection; the process keeps serving')
    count()
  }
  process.on('unhandledRejection', onRejection)
  return () => process.off('unhandledRejection', onRejection)
}

function describe(value: unknown): string {
  try {
    return String(value).slice(0, 200)
  } catch {
    return typeof value
  }
}
