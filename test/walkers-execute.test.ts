// runWalker's contract without sockets: the answer comes exactly once, at once for a walker that
// finished when it returned; a running execution is a thenable (no promise per message, the
// walker bench) that settles after its answer, also when the timeout or the client's leaving
// comes first, and reports a throwing answer as a failure.
import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Type } from '@sinclair/typebox'
import { LoadedWalker } from '../src/walkers/registry.ts'
import { defineWalker } from '../src/walkers/define.ts'
import { runWalker, Watchlist, WalkerTimeoutError, type RunOptions } from '../src/walkers/execute.ts'
import type { WalkerReply } from '../src/protocol/walker.ts'

const noop = () => {}
const log = { child: () => log, info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop }
const walker = (run: (fields: { n: number }, ctx: { report(v: unknown): void; signal: AbortSignal }) => void | Promise<void>) =>
  new LoadedWalker(defineWalker({ name: 'T', protocol: 'websocket', public: true, fields: Type.Object({ n: Type.Number({ default: 1 }) }), run }) as never, 'test')
const options = (timeoutMs = 1000, signal = new AbortController().signal): RunOptions => ({ log: log as never, signal, timeoutMs, watchlist: new Watchlist() })

t.test('a walker that finished when it returned is answered at once, with nothing to wait for', async (t) => {
  const replies: (WalkerReply | undefined)[] = []
  const result = runWalker(walker((f, ctx) => ctx.report(f.n)), {}, null, options(), (r) => replies.push(r))
  t.equal(result, undefined)
  t.same(replies.map((r) => r?.frame), ['{"ok":true,"data":{"reports":[1]}}'])
})

t.test('a running execution is a thenable, not a promise, and settles after its one answer', async (t) => {
  const replies: (WalkerReply | undefined)[] = []
  const result = runWalker(walker(async (f, ctx) => {
    await new Promise((r) => setTimeout(r, 5))
    ctx.report(f.n)
  }), { n: 2 }, null, options(), (r) => replies.push(r))
  t.notOk(result instanceof Promise, 'no promise made for the caller to wait on')
  let calls = 0
  ;(result as PromiseLike<void>).then(() => calls++, noop)
  await result
  t.equal(calls, 1)
  t.same(replies.map((r) => r?.frame), ['{"ok":true,"data":{"reports":[2]}}'])
  let late = 0
  ;(result as PromiseLike<void>).then(() => late++, noop)
  await new Promise((r) => setImmediate(r))
  t.equal(late, 1, 'a then() after it settled is called too')
})

t.test('the timeout answers EXECUTION_ERROR, aborts ctx.signal with WalkerTimeoutError and settles', async (t) => {
  // The deadline's timer is unref'd (it never holds a process open): this test holds it.
  const hold = setTimeout(noop, 5000)
  t.teardown(() => clearTimeout(hold))
  let reason: unknown
  const replies: (WalkerReply | undefined)[] = []
  const result = runWalker(walker((_f, ctx) => new Promise<void>((resolve) => {
    ctx.signal.addEventListener('abort', () => { reason = ctx.signal.reason; resolve() })
  })), {}, null, options(50), (r) => replies.push(r))
  await result
  t.same(replies.map((r) => r?.status), [500])
  t.ok(reason instanceof WalkerTimeoutError)
  await new Promise((r) => setTimeout(r, 20))
  t.equal(replies.length, 1, 'answered once, although the walker resolved after')
})

t.test('the client leaving settles it with no answer to give; a throwing answer is a failure', async (t) => {
  const gone = new AbortController()
  const replies: (WalkerReply | undefined)[] = []
  const result = runWalker(walker(() => new Promise<void>(noop)), {}, null, options(10_000, gone.signal), (r) => replies.push(r))
  await new Promise((r) => setImmediate(r))
  gone.abort(new Error('client disconnected'))
  await result
  t.same(replies, [undefined])

  const failing = runWalker(walker(async () => {}), {}, null, options(), () => { throw new Error('answer failed') })
  await t.rejects(Promise.resolve(failing), /answer failed/)
})

t.test('a finished execution keeps neither its reports nor a timer until its deadline', async (t) => {
  // An AbortSignal.timeout's listener held the execution (and a report of any size) for
  // WALKER_TIMEOUT_MS after the reply had gone out: 200 slow walkers reporting 1 MB each held 200 MB.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const caller = new AbortController() // a socket's session: lives on after the execution
  let ref: WeakRef<object> | undefined
  let context: WeakRef<object> | undefined
  const replies: (WalkerReply | undefined)[] = []
  await runWalker(walker(async (_f, ctx) => {
    await new Promise((r) => setTimeout(r, 2)) // past its first turn: watched
    const big = { blob: 'x'.repeat(1 << 20) }
    ref = new WeakRef(big)
    context = new WeakRef(ctx)
    ctx.report(big)
  }), {}, null, options(60_000, caller.signal), (r) => replies.push(r))
  t.equal(replies[0]?.status, 200)
  replies.length = 0
  await new Promise((r) => setImmediate(r))
  gc()
  t.equal(ref!.deref(), undefined, 'the report is collectable once answered')
  t.equal(context!.deref(), undefined, 'so is the execution: no deadline timer or listener on the caller\'s signal holds it')
  t.equal(caller.signal.aborted, false)
})

t.test('input nested deeper than the stack under a recursive schema is VALIDATION, not a failure of the walker', async (t) => {
  const Tree = Type.Recursive((This) => Type.Object({ children: Type.Array(This) }))
  let ran = 0
  const tree = new LoadedWalker(defineWalker({ name: 'Tree', protocol: 'websocket', public: true, fields: Type.Object({ tree: Tree }), run: () => { ran++ } }) as never, 'test')
  const deep = JSON.parse('{"tree":' + '{"children":['.repeat(5000) + ']}'.repeat(5000) + '}') as Record<string, unknown>
  const replies: (WalkerReply | undefined)[] = []
  runWalker(tree, deep, null, options(), (r) => replies.push(r))
  t.equal(replies[0]?.status, 400)
  t.same(JSON.parse(replies[0]!.frame), { ok: false, error: { code: 'VALIDATION', message: 'Invalid walker fields', details: [{ path: '', message: 'Input is nested too deeply to validate' }] } })
  t.equal(ran, 0)
  runWalker(tree, { tree: { children: [{ children: [] }] } }, null, options(), (r) => replies.push(r))
  t.equal(replies[1]?.status, 200, 'a shallow tree still runs')
})
