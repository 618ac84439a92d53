// One walker execution, whatever carried the message: fill defaults and validate, run with a
// context whose signal aborts on disconnect or WALKER_TIMEOUT_MS, and turn the outcome into the
// envelope. A failure's details (the stack) go to the log; the client only learns that it failed.
import { isThenable, type Awaitable } from '../lib/awaitable.ts'
import type { VerifiedUser } from '../auth/tokens.ts'
import { invalidFieldsReply, invalidJsonReply, Replies, successReply, WalkerReply } from '../protocol/walker.ts'
import { isPlainObject, parseJson } from '../lib/json.ts'
import type { WalkerContext, WalkerLogger } from './define.ts'
import type { LoadedWalker } from './registry.ts'

/** What an execution needs besides its user; a WebSocket session keeps one for all its messages. */
export interface RunOptions {
  /** Already bound to the walker and the client; the walker's ctx.log. */
  log: WalkerLogger
  /** The caller's: aborts when the client goes away. */
  signal: AbortSignal
  timeoutMs: number
}

export interface ExecuteOptions extends RunOptions {
  user: VerifiedUser | null
}

export const isReply = (v: object): v is WalkerReply => v instanceof WalkerReply


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
 * One execution: the walker's ctx, and the race between the walker finishing, its timeout and
 * its client leaving. ctx.signal is made only when the walker asks for it (an AbortSignal is an
 * EventTarget, dear to make for every message).
 *
 * Most walkers are `async run()` that finish without awaiting anything: their promise is
 * settled before the event-loop turn ends, so the timeout and disconnect watch is armed only
 * for an execution still running then, its deadline counted from its start.
 */
class Execution implements WalkerContext {
  readonly user: VerifiedUser | null
  readonly log: WalkerLogger
  private readonly startedAt = Date.now()
  /** Made by the first report, exactly as long as it: most walkers report once. */
  private reports: unknown[] | undefined
  /** The reply was decided: later reports are ignored. */
  private finished = false
  /** Aborted with the timeout's error; ctx.signal follows it and the caller's signal. */
  private timedOut: AbortController | undefined
  private combined: AbortSignal | undefined
  /** Set while the walker runs past its return; taken by whichever outcome comes first. */
  private resolve: ((reply: WalkerReply | undefined) => void) | undefined

  constructor(readonly walker: string, user: VerifiedUser | null, private readonly opts: RunOptions) {
    this.user = user
    this.log = opts.log
  }

  /** An own property, so a walker may destructure it from ctx. */
  readonly report = (value: unknown): void => {
    if (this.finished) this.log.warn('report() after the walker finished; ignored')
    else if (this.reports) this.reports.push(value)
    else this.reports = [value]
  }

  /** Aborts when the client goes away or WALKER_TIMEOUT_MS passes, with the reason that came first. */
  get signal(): AbortSignal {
    return (this.combined ??= AbortSignal.any([this.opts.signal, (this.timedOut ??= new AbortController()).signal]))
  }

  /** The walker returned normally (or its promise fulfilled): the reports become the reply. */
  succeeded(): WalkerReply {
    this.finished = true
    try {
      return successReply(this.reports ?? [])
    } catch (err) {
      this.log.error({ err }, 'walker reported a value that is not JSON-serializable')
      return Replies.EXECUTION_ERROR
    }
  }

  /** The walker threw (or its promise rejected). */
  failed(err: unknown): WalkerReply | undefined {
    this.finished = true
    if (this.opts.signal.aborted) return undefined // it failed because its client left
    this.log.error({ err }, 'walker threw; answered EXECUTION_ERROR')
    return Replies.EXECUTION_ERROR
  }

  /** The walker returned a promise: its outcome, unless the timeout or the client's leaving comes first. */
  outcome(run: PromiseLike<void>): Promise<WalkerReply | undefined> {
    return new Promise((resolve) => {
      this.resolve = resolve
      run.then(() => this.settle(this.finished ? undefined : this.succeeded()), (err: unknown) => {
        if (this.timedOut?.signal.aborted) this.log.warn({ err }, 'walker failed after it had timed out')
        this.settle(this.finished ? undefined : this.failed(err))
      })
      setImmediate(watchLater, this)
    })
  }

  /** Still running at the end of the turn: the timeout and the client's leaving may now end it. */
  watch(): void {
    if (!this.resolve) return
    if (this.opts.signal.aborted) return this.end(undefined)
    const deadline = AbortSignal.timeout(Math.max(1, this.startedAt + this.opts.timeoutMs - Date.now()))
    const ended = AbortSignal.any([this.opts.signal, deadline])
    ended.addEventListener('abort', () => {
      if (!this.resolve) return // settled before: the deadline's timer cannot be cleared, only ignored
      if (!deadline.aborted) return this.end(undefined)
      this.log.error({ timeout_ms: this.opts.timeoutMs }, 'walker timed out; answered EXECUTION_ERROR')
      this.timedOut ??= new AbortController()
      this.timedOut.abort(new WalkerTimeoutError(`walker ${this.walker} passed ${this.opts.timeoutMs} ms`))
      this.end(Replies.EXECUTION_ERROR)
    }, { once: true })
  }

  /** The race is decided without the walker: its reply (undefined: the client left) goes out now. */
  private end(reply: WalkerReply | undefined): void {
    this.finished = true
    this.settle(reply)
  }

  private settle(reply: WalkerReply | undefined): void {
    const resolve = this.resolve
    if (!resolve) return
    this.resolve = undefined
    resolve(reply)
  }
}

function watchLater(execution: Execution): void {
  execution.watch()
}

/**
 * Validate `input` (the message without its token) and run the walker: the reply, at once when
 * the outcome is known then (invalid fields, a walker that returned or threw without a
 * promise), else a promise of it; undefined when the client went away first (no one to answer).
 */
export function runWalker(walker: LoadedWalker, input: Record<string, unknown>, user: VerifiedUser | null, opts: RunOptions): Awaitable<WalkerReply | undefined> {
  const prepared = walker.prepare(input)
  if (!prepared.ok) return invalidFieldsReply(prepared.details)
  if (opts.signal.aborted) return undefined

  const execution = new Execution(walker.name, user, opts)
  let run: void | Promise<void>
  try {
    run = walker.run(prepared.fields, execution)
  } catch (err) {
    return execution.failed(err)
  }
  if (!isThenable(run)) return execution.succeeded()
  return execution.outcome(run)
}

/** runWalker as a promise, for callers that await anyway (HTTP, webhooks). */
export async function executeWalker(walker: LoadedWalker, input: Record<string, unknown>, opts: ExecuteOptions): Promise<WalkerReply | undefined> {
  return runWalker(walker, input, opts.user, opts)
}
