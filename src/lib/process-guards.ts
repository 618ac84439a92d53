// Process-wide safety net for the one failure no connection owns: a promise rejected with no
// handler anywhere (a walker's stray `setTimeout(() => Promise.reject(…))`, a library's
// forgotten catch). Node's default ends the process, and with it every user's connection; here
// it is logged with its stack and counted, and the process keeps serving. Failures inside
// handlers never get this far: the connection registry turns them into that connection's error
// or 1011. An uncaught *exception* still ends the process (gracefully, src/server.ts): after
// one, Node's own state may be inconsistent, and a restart is the safe answer.

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
