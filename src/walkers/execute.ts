// One walker execution, whatever carried the message: fill defaults and validate, run with a
// context whose signal aborts on disconnect or WALKER_TIMEOUT_MS, and turn the outcome into the
// envelope. A failure's details (the stack) go to the log; the client only learns that it failed.
import { isThenable } from '../lib/awaitable.ts'
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

/** The reply of an execution that finished later; undefined when its client went away first. */
export type ReplyCallback = (reply: WalkerReply | undefined) => void

/** runWalker's answer when the walker has not finished yet: the reply comes through the callback. */
export const PENDING = Symbol('walker execution pending')

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
 * its client leaving. ctx.signal is made only when the walker asks for it (an AbortSignal is
 * an EventTarget, dear to make for every message); one that comes too late is born aborted.
 *
 * Most walkers are `async run()` that finish without awaiting anything: their promise is
 * settled when run() returns, so no timer or disconnect watch is set up for them at all. An
 * execution still running at the end of the event-loop turn is armed then (`arm`), its
 * deadline counted from its start.
 */
class Execution implements WalkerContext {
  /** Due at this Date.now(); WALKER_TIMEOUT_MS after the start. */
  deadline = 0
  readonly user: VerifiedUser | null
  readonly log: WalkerLogger
  /** Made by the first report, exactly as long as it: most walkers report once. */
  private reports: unknown[] | undefined
  /** The reply was decided: later reports are ignored. */
  private finished = false
  private controller: AbortController | undefined
  private ended: { outcome: 'timeout' | 'gone'; reason: unknown } | undefined
  /** Set while the walker runs past its return; taken by whichever outcome comes first. */
  private done: ReplyCallback | undefined
  private deadlines: DeadlineQueue | undefined
  private watched: Set<Execution> | undefined

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

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.ended) this.controller.abort(this.ended.reason)
    }
    return this.controller.signal
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

  /** The walker returned a promise: one reaction decides the reply, unless an end() comes first. */
  awaitRun(run: PromiseLike<void>, done: ReplyCallback): void {
    this.done = done
    this.deadline = Date.now() + this.opts.timeoutMs
    Promise.resolve(run).then(() => {
      if (this.done) this.settle(this.succeeded())
    }, (err: unknown) => {
      if (this.ended?.outcome === 'timeout') this.log.warn({ err }, 'walker failed after it had timed out')
      if (this.done) this.settle(this.failed(err))
    })
    armLater(this)
  }

  /** Still running at the end of the turn: now it gets its deadline and its disconnect watch. */
  arm(): void {
    if (!this.done) return
    if (this.opts.signal.aborted) return this.end('gone', this.opts.signal.reason)
    this.deadlines = deadlineQueue(this.opts.timeoutMs)
    this.deadlines.add(this)
    this.watched = watch(this.opts.signal, this)
  }

  /** The timeout or the client's leaving: the race is decided first, then ctx.signal aborts. */
  end(outcome: 'timeout' | 'gone', reason: unknown): void {
    const done = this.done
    if (!done) return
    this.done = undefined
    this.disarm()
    this.ended = { outcome, reason }
    this.controller?.abort(reason)
    this.finished = true
    if (outcome === 'gone') return done(undefined)
    this.log.error({ timeout_ms: this.opts.timeoutMs }, 'walker timed out; answered EXECUTION_ERROR')
    done(Replies.EXECUTION_ERROR)
  }

  private settle(reply: WalkerReply | undefined): void {
    const done = this.done!
    this.done = undefined
    this.disarm()
    done(reply)
  }

  private disarm(): void {
    this.deadlines?.delete(this)
    this.watched?.delete(this)
  }
}

/** Executions whose walker had not finished when it returned, in the order they started. */
let unarmed: Execution[] = []

function armLater(execution: Execution): void {
  if (unarmed.length === 0) setImmediate(armPending)
  unarmed.push(execution)
}

/**
 * The end of the event-loop turn: executions that settled meanwhile (the usual case) are
 * skipped, the others are armed in start order, which keeps each deadline queue in order.
 */
function armPending(): void {
  const executions = unarmed
  unarmed = []
  for (const execution of executions) execution.arm()
}

/**
 * WALKER_TIMEOUT_MS for every running execution with one timer, not one each. Executions with
 * the same timeout expire in the order they started, so the queue is a Set in insertion order
 * and the timer is armed for its head; a finished execution just leaves the Set.
 */
class DeadlineQueue {
  private readonly queue = new Set<Execution>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly ms: number) {}

  /** `execution.deadline` is set: executions are added in the order they started. */
  add(execution: Execution): void {
    this.queue.add(execution)
    if (!this.timer) this.arm(execution.deadline - Date.now())
  }

  delete(execution: Execution): void {
    this.queue.delete(execution)
  }

  private arm(ms: number): void {
    this.timer = setTimeout(sweep, Math.max(1, ms), this)
    this.timer.unref()
  }

  sweep(): void {
    this.timer = undefined
    const now = Date.now()
    for (const execution of this.queue) {
      if (execution.deadline > now) return this.arm(execution.deadline - now)
      this.queue.delete(execution)
      execution.end('timeout', new WalkerTimeoutError(`walker ${execution.walker} passed ${this.ms} ms`))
    }
  }
}

function sweep(queue: DeadlineQueue): void {
  queue.sweep()
}

const deadlines = new Map<number, DeadlineQueue>()
function deadlineQueue(ms: number): DeadlineQueue {
  let queue = deadlines.get(ms)
  if (!queue) deadlines.set(ms, (queue = new DeadlineQueue(ms)))
  return queue
}

/**
 * Executions running for a caller's signal (one per socket or request), aborted together by
 * one listener on it instead of one listener added and removed per execution.
 */
const running = new WeakMap<AbortSignal, Set<Execution>>()
function watch(signal: AbortSignal, execution: Execution): Set<Execution> {
  let executions = running.get(signal)
  if (!executions) {
    const set = (executions = new Set())
    running.set(signal, set)
    signal.addEventListener('abort', () => {
      for (const e of set) e.end('gone', signal.reason)
    }, { once: true })
  }
  executions.add(execution)
  return executions
}

/**
 * Validate `input` (the message without its token) and run the walker. Returns the reply when
 * the outcome is known at once (invalid fields, a walker that returned or threw without a
 * promise; undefined when the client is already gone), else PENDING: `done` is then called
 * exactly once, never before this returns, with the reply or undefined when the client went
 * away first (there is no one left to answer).
 */
export function runWalker(walker: LoadedWalker, input: Record<string, unknown>, user: VerifiedUser | null, opts: RunOptions, done: ReplyCallback): WalkerReply | undefined | typeof PENDING {
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
  execution.awaitRun(run, done)
  return PENDING
}

/** runWalker as a promise, for callers that await anyway (HTTP, webhooks). */
export function executeWalker(walker: LoadedWalker, input: Record<string, unknown>, opts: ExecuteOptions): Promise<WalkerReply | undefined> {
  return new Promise((resolve) => {
    const reply = runWalker(walker, input, opts.user, opts, resolve)
    if (reply !== PENDING) resolve(reply)
  })
}
