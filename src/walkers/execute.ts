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

type Outcome = 'done' | 'failed' | 'timeout' | 'gone'

/**
 * One execution: the walker's ctx, and the race between the walker finishing, its timeout and
 * its client leaving. ctx.signal is made only when the walker asks for it (an AbortSignal is
 * an EventTarget, dear to make for every message); one that comes too late is born aborted.
 */
class Execution implements WalkerContext {
  /** Due at this Date.now(); set by the deadline queue. */
  deadline = 0
  error: unknown
  private readonly reports: unknown[] = []
  private finished = false
  private controller: AbortController | undefined
  private ended: { outcome: 'timeout' | 'gone'; reason: unknown } | undefined
  private settle: ((outcome: Outcome) => void) | undefined

  constructor(readonly walker: string, readonly user: VerifiedUser | null, readonly log: WalkerLogger) {}

  /** An own property, so a walker may destructure it from ctx. */
  readonly report = (value: unknown): void => {
    if (this.finished) this.log.warn('report() after the walker finished; ignored')
    else this.reports.push(value)
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.ended) this.controller.abort(this.ended.reason)
    }
    return this.controller.signal
  }

  /** Resolves with how the race ended. */
  race(run: Promise<void>): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      this.settle = resolve
      run.then(() => this.finish('done'), (err: unknown) => {
        if (this.ended?.outcome === 'timeout') this.log.warn({ err }, 'walker failed after it had timed out')
        this.error = err
        this.finish('failed')
      })
    })
  }

  /** The timeout or the client's leaving: the race is decided first, then ctx.signal aborts. */
  end(outcome: 'timeout' | 'gone', reason: unknown): void {
    if (this.ended || !this.settle) return
    this.ended = { outcome, reason }
    this.finish(outcome)
    this.controller?.abort(reason)
  }

  /** The reply, built from the reports; nothing more may be reported after this. */
  close(): void {
    this.finished = true
  }

  get collected(): unknown[] {
    return this.reports
  }

  private finish(outcome: Outcome): void {
    const settle = this.settle
    this.settle = undefined
    settle?.(outcome)
  }
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

  add(execution: Execution): void {
    execution.deadline = Date.now() + this.ms
    this.queue.add(execution)
    if (!this.timer) this.arm(this.ms)
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
 * Validate `input` (the message without its token) and run the walker. Resolves to the reply,
 * or undefined when the client went away first (there is no one left to answer).
 */
export async function executeWalker(walker: LoadedWalker, input: Record<string, unknown>, opts: ExecuteOptions): Promise<WalkerReply | undefined> {
  const prepared = walker.prepare(input)
  if (!prepared.ok) return invalidFieldsReply(prepared.details)
  if (opts.signal.aborted) return undefined

  const { log } = opts
  const execution = new Execution(walker.name, opts.user, log)
  const queue = deadlineQueue(opts.timeoutMs)
  queue.add(execution)
  const watched = watch(opts.signal, execution)
  try {
    let run: Promise<void>
    try {
      // A walker that throws synchronously is caught the same as one that rejects.
      run = Promise.resolve(walker.run(prepared.fields, execution))
    } catch (err) {
      run = Promise.reject(err)
    }
    const outcome = await execution.race(run)
    if (outcome === 'gone') return undefined
    if (outcome === 'timeout') {
      log.error({ timeout_ms: opts.timeoutMs }, 'walker timed out; answered EXECUTION_ERROR')
      return Replies.EXECUTION_ERROR
    }
    if (outcome === 'failed') {
      if (opts.signal.aborted) return undefined // it failed because its client left
      log.error({ err: execution.error }, 'walker threw; answered EXECUTION_ERROR')
      return Replies.EXECUTION_ERROR
    }
    execution.close()
    try {
      return successReply(execution.collected)
    } catch (err) {
      log.error({ err }, 'walker reported a value that is not JSON-serializable')
      return Replies.EXECUTION_ERROR
    }
  } finally {
    execution.close()
    queue.delete(execution)
    watched.delete(execution)
  }
}
