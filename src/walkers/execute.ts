// One walker execution, whatever carried the message: fill defaults and validate, run with a
// context whose signal aborts on disconnect or WALKER_TIMEOUT_MS, and turn the outcome into the
// envelope. A failure's details (the stack) go to the log; the client only learns that it failed.
import type { VerifiedUser } from '../auth/tokens.ts'
import { invalidFieldsReply, invalidJsonReply, Replies, successReply, type WalkerReply } from '../protocol/walker.ts'
import { isPlainObject, parseJson } from '../lib/json.ts'
import type { WalkerContext, WalkerLogger } from './define.ts'
import type { LoadedWalker } from './registry.ts'

export interface ExecuteOptions {
  user: VerifiedUser | null
  /** Already bound to the walker and the client; the walker's ctx.log. */
  log: WalkerLogger
  /** The caller's: aborts when the client goes away. */
  signal: AbortSignal
  timeoutMs: number
}

export const isReply = (v: object): v is WalkerReply => 'frame' in v && 'status' in v

/** A message or body as walker input (prototype-safe), or the VALIDATION reply it earns. */
export function parseInput(text: string): Record<string, unknown> | WalkerReply {
  const parsed = parseJson(text)
  if (!parsed.ok) return invalidJsonReply(parsed.error)
  return isPlainObject(parsed.value) ? parsed.value : Replies.NOT_AN_OBJECT
}

export class WalkerTimeoutError extends Error {
  override readonly name = 'WalkerTimeoutError'
}

/**
 * Validate `input` (the message without its token) and run the walker. Resolves to the reply,
 * or undefined when the client went away first (there is no one left to answer).
 */
export async function executeWalker(walker: LoadedWalker, input: Record<string, unknown>, opts: ExecuteOptions): Promise<WalkerReply | undefined> {
  const prepared = walker.prepare(input)
  if (!prepared.ok) return invalidFieldsReply(prepared.details)
  if (opts.signal.aborted) return undefined

  const { log } = opts
  const abort = new AbortController()
  const reports: unknown[] = []
  let finished = false
  const ctx: WalkerContext = {
    user: opts.user,
    log,
    signal: abort.signal,
    report(value) {
      if (finished) log.warn('report() after the walker finished; ignored')
      else reports.push(value)
    }
  }

  let timer: NodeJS.Timeout | undefined
  const onClientGone = () => abort.abort(opts.signal.reason)
  opts.signal.addEventListener('abort', onClientGone, { once: true })
  // Either way the race ends, the loser's promise stays pending; both settle into this one value.
  const stopped = new Promise<'timeout' | 'gone'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout') // first: abort() runs the 'gone' listener below synchronously
      abort.abort(new WalkerTimeoutError(`walker ${walker.name} passed ${opts.timeoutMs} ms`))
    }, opts.timeoutMs)
    timer.unref()
    abort.signal.addEventListener('abort', () => resolve('gone'), { once: true })
  })
  // A walker that throws synchronously is caught the same as one that rejects.
  const run = Promise.resolve().then(() => walker.run(prepared.fields, ctx))
  try {
    const outcome = await Promise.race([run.then(() => 'done' as const), stopped])
    if (outcome === 'gone') return undefined
    if (outcome === 'timeout') {
      log.error({ timeout_ms: opts.timeoutMs }, 'walker timed out; answered EXECUTION_ERROR')
      // It may still settle later; nobody awaits it any more, so a late rejection is only logged.
      run.catch((err: unknown) => log.warn({ err }, 'walker failed after it had timed out'))
      return Replies.EXECUTION_ERROR
    }
    try {
      return successReply(reports)
    } catch (err) {
      log.error({ err }, 'walker reported a value that is not JSON-serializable')
      return Replies.EXECUTION_ERROR
    }
  } catch (err) {
    if (opts.signal.aborted) return undefined // it failed because its client left
    log.error({ err }, 'walker threw; answered EXECUTION_ERROR')
    return Replies.EXECUTION_ERROR
  } finally {
    finished = true
    clearTimeout(timer)
    opts.signal.removeEventListener('abort', onClientGone)
  }
}
