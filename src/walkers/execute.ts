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
  /** Where executions still running at the end of their turn are watched from (one per caller). */
  watchlist: Watchlist
}

export interface ExecuteOptions extends Omit<RunOptions, 'watchlist'> {
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

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- then()'s callbacks, whatever they return
type Callback = (value: any) => unknown
const SUCCEEDED = { failure: undefined }

/** Where an execution's reply goes: undefined when its client went away first (no one to answer). */
export type Answer = (reply: WalkerReply | undefined) => void

/**
 * Executions still running at the end of the event-loop turn they started in get their timeout
 * and disconnect watch then, in one pass: most walkers (`async run()` that awaits nothing) have
 * settled by that time and cost no timer. One list per caller (a socket's session, a request).
 */
export class Watchlist {
  private pending: Execution[] = []

  /** @internal */
  add(execution: Execution): void {
    if (this.pending.length === 0) setImmediate(watchAll, this)
    this.pending.push(execution)
  }

  /** @internal */
  watchAll(): void {
    const executions = this.pending
    this.pending = []
    for (const execution of executions) execution.watch()
  }
}

function watchAll(list: Watchlist): void {
  list.watchAll()
}

/**
 * One execution: the walker's ctx, and the race between the walker finishing, its timeout and
 * its client leaving. ctx.signal is made only when the walker asks for it (an AbortSignal is an
 * EventTarget, dear to make for every message).
 *
 * A running execution is itself what its caller waits for: a thenable that settles once the
 * reply was answered, so a message costs no promise beyond the walker's own (the walker bench).
 */
class Execution implements WalkerContext, PromiseLike<void> {
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
  private answer: Answer | undefined
  /** Who waits for the answer (then(): the transport, once); `settled` once it was given, with the answer's own failure. */
  private onDone: Callback | undefined
  private onFailed: Callback | undefined
  private more: [Callback | undefined, Callback | undefined][] | undefined
  private settled: { failure: unknown } | undefined
  /** Takes back what watch() set up, once the answer was given. */
  private unwatch: (() => void) | undefined

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
    const reports = this.reports ?? []
    this.reports = undefined // in the reply's frame now: not kept for as long as the ctx is
    try {
      return successReply(reports)
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

  /** The walker returned a promise: its outcome is answered, unless the timeout or the client's leaving comes first. */
  outcome(run: PromiseLike<void>, answer: Answer): this {
    this.answer = answer
    run.then(() => this.settle(this.finished ? undefined : this.succeeded()), (err: unknown) => {
      if (this.timedOut?.signal.aborted) this.log.warn({ err }, 'walker failed after it had timed out')
      this.settle(this.finished ? undefined : this.failed(err))
    })
    this.opts.watchlist.add(this)
    return this
  }

  /**
   * Still running at the end of the turn: the timeout and the client's leaving may now end it.
   * A timer and a listener that settle() takes back: an AbortSignal.timeout cannot be cleared,
   * and its listener would keep the execution and its reports alive until the deadline.
   */
  watch(): void {
    if (!this.answer) return
    if (this.opts.signal.aborted) return this.end(undefined)
    const callerSignal = this.opts.signal
    const left = (): void => this.end(undefined)
    const deadline = setTimeout(() => {
      if (!this.answer) return
      this.log.error({ timeout_ms: this.opts.timeoutMs }, 'walker timed out; answered EXECUTION_ERROR')
      this.timedOut ??= new AbortController()
      this.timedOut.abort(new WalkerTimeoutError(`walker ${this.walker} passed ${this.opts.timeoutMs} ms`))
      this.end(Replies.EXECUTION_ERROR)
    }, Math.max(1, this.startedAt + this.opts.timeoutMs - Date.now()))
    deadline.unref() // it never holds a process open: the caller's socket or request does
    callerSignal.addEventListener('abort', left, { once: true })
    this.unwatch = () => {
      clearTimeout(deadline)
      callerSignal.removeEventListener('abort', left)
    }
  }

  /** Calls `done` once the reply was answered, `failed` if answering threw. */
  then<A = void, B = never>(done?: ((value: void) => A | PromiseLike<A>) | null, failed?: ((err: unknown) => B | PromiseLike<B>) | null): PromiseLike<A | B> {
    const ok = done ?? undefined
    const fail = failed ?? undefined
    if (this.settled) queueMicrotask(() => this.call(ok, fail))
    else if (this.onDone || this.onFailed) (this.more ??= []).push([ok, fail])
    else {
      this.onDone = ok
      this.onFailed = fail
    }
    // Callers wait (await, or then(done, failed)) and never chain on the result: no promise is made for one.
    return this as unknown as PromiseLike<A | B>
  }

  /** The race is decided without the walker: its reply (undefined: the client left) goes out now. */
  private end(reply: WalkerReply | undefined): void {
    this.finished = true
    this.settle(reply)
  }

  private settle(reply: WalkerReply | undefined): void {
    const answer = this.answer
    if (!answer) return
    this.answer = undefined
    this.unwatch?.()
    this.unwatch = undefined
    let failure: unknown
    try {
      answer(reply)
    } catch (err) {
      failure = err ?? new Error('answer failed')
    }
    this.settled = failure === undefined ? SUCCEEDED : { failure }
    this.call(this.onDone, this.onFailed)
    for (const [done, failed] of this.more ?? []) this.call(done, failed)
    this.onDone = this.onFailed = this.more = undefined
  }

  private call(done: Callback | undefined, failed: Callback | undefined): void {
    const failure = this.settled!.failure
    if (failure === undefined) done?.(undefined)
    else failed?.(failure)
  }
}

/**
 * Validate `input` (the message without its token) and run the walker; `answer` gets the reply
 * exactly once. At once when the outcome is known then (invalid fields, a walker that returned
 * or threw without a promise): nothing is returned. Else the running execution, which settles
 * once it was answered.
 */
export function runWalker(walker: LoadedWalker, input: Record<string, unknown>, user: VerifiedUser | null, opts: RunOptions, answer: Answer): Awaitable<void> {
  const prepared = walker.prepare(input)
  if (!prepared.ok) return void answer(invalidFieldsReply(prepared.details))
  if (opts.signal.aborted) return void answer(undefined)

  const execution = new Execution(walker.name, user, opts)
  let run: void | Promise<void>
  try {
    run = walker.run(prepared.fields, execution)
  } catch (err) {
    return void answer(execution.failed(err))
  }
  if (!isThenable(run)) return void answer(execution.succeeded())
  return execution.outcome(run, answer)
}

/** runWalker as a promise of its reply, for callers that await anyway (HTTP, webhooks). */
export function executeWalker(walker: LoadedWalker, input: Record<string, unknown>, opts: ExecuteOptions): Promise<WalkerReply | undefined> {
  return new Promise((resolve) => void runWalker(walker, input, opts.user, { ...opts, watchlist: new Watchlist() }, resolve))
}
