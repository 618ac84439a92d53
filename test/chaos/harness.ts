// The chaos suite's one runner. Each surface's hostile table (test/chaos/*.test.ts) is data: a
// frame to send and the exact outcome SPEC gives for it. For every row this sends the frame to
// a fresh victim connection over a real socket, checks the outcome (exact replies, or the close
// code), proves the victim is still served where SPEC keeps it open, that state did not change,
// that a bystander on the same surface is unaffected, and, once per surface, that nothing
// crashed and nothing was logged as an error. HTTP walkers have the same shape of table below.
import type { Test } from 'tap'
import { startApp, type TestApp } from '../helpers/app.ts'
import { waitUntil } from '../helpers/walkers.ts'
import type { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { stringifyJson } from '../../src/lib/json.ts'

export type Env = Record<string, string | number | boolean>
/* eslint-disable @typescript-eslint/no-explicit-any -- frames are asserted field by field */
export type Frame = any

/** What a row sends. A string is one text frame, as is. */
export type Send =
  | string
  | { json: unknown }
  /** One text frame of exactly these bytes (invalid UTF-8 included). */
  | { bytes: Buffer }
  | { binary: Buffer }
  /** One text message as several frames (continuation frames); optionally a ping between them. */
  | { fragments: (string | Buffer)[]; pingBetween?: boolean }
  /** Protocol-level pings from the client, all at once or `batch` at a time, a millisecond apart. */
  | { pings: number; size?: number; batch?: number }
  /** The same text frame many times, as fast as the socket takes them. */
  | { repeat: number; frame: string }

/** What a row expects. Every form but `close` also proves the victim is still served afterwards. */
export type Expect =
  /** Exactly these frames (JSON, after the surface's normalize), in order, and nothing else. */
  | { replies: unknown[] }
  /** Exactly this text comes back (verbatim echo), and nothing else. */
  | { verbatim: string }
  /** `count` frames (parsed when JSON), handed to `assert`; for replies too large or too deep to spell out. */
  | { count: number; assert: (frames: Frame[], t: Test) => void }
  /** The server closes the victim with this code (and reason); seen as 1006 when it cut the TCP connection. */
  | { close: number; reason?: string }

export interface Case<S> {
  name: string
  send: Send
  expect: Expect
  /** The row changes state on purpose (a successful HELLO): skip the unchanged-state check. */
  changesState?: boolean
  /** More assertions once the outcome is in: what a chat partner received, say. */
  after?: (ctx: { app: TestApp; shared: S; victim: Victim }, t: Test) => Promise<void>
}

export interface Victim {
  client: WsTestClient
  /** The FastChat user behind the connection, when there is one. */
  user_id?: string
}

export interface Surface<S = undefined> {
  name: string
  env?: Env
  /** Shared fixtures for every row (a chat partner); default none. */
  setup?(app: TestApp): Promise<S>
  /** A connection ready for hostile frames: greeting read, HELLO done, chat open… */
  open(app: TestApp, shared: S): Promise<Victim>
  /** A request whose reply proves the connection is served; `n` makes each one unique. */
  probe(n: number): { frame: unknown; is(reply: Frame): boolean }
  /** Frames the server may push at any time (presence broadcasts), skipped when reading replies. */
  ignore?(frame: Frame): boolean
  /** Replace volatile fields (timestamps, client ids) so that replies compare exactly. */
  normalize?(frame: Frame): Frame
  /** State hostile input must not change, read before and after every row that keeps the victim open. */
  state?(app: TestApp, shared: S, victim: Victim): unknown
  /** True once an ended victim is forgotten (it left presence): awaited after each row, so the next row's state reads clean. */
  quiet?(app: TestApp, shared: S): boolean
  cases: Case<S>[]
}

const REPLY_TIMEOUT = 5000

/** Send one row's frames. */
export async function sendHostile(c: WsTestClient, send: Send): Promise<void> {
  const ws = c.ws
  if (typeof send === 'string') return ws.send(send, { binary: false })
  if ('json' in send) return ws.send(stringifyJson(send.json), { binary: false })
  if ('bytes' in send) return ws.send(send.bytes, { binary: false })
  if ('binary' in send) return ws.send(send.binary, { binary: true })
  if ('fragments' in send) {
    send.fragments.forEach((part, i) => {
      if (send.pingBetween && i > 0) ws.ping()
      ws.send(part, { binary: false, fin: i === send.fragments.length - 1 })
    })
    return
  }
  if ('pings' in send) {
    const payload = Buffer.alloc(send.size ?? 0, 0x61)
    const batch = send.batch ?? send.pings
    for (let i = 0; i < send.pings; i++) {
      if (i > 0 && i % batch === 0) await new Promise((resolve) => setTimeout(resolve, 1))
      ws.ping(payload)
    }
    return
  }
  for (let i = 0; i < send.repeat; i++) ws.send(send.frame, { binary: false })
}

const parsed = (text: string): Frame => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** The next frame the surface does not push on its own, as text. */
async function nextReply(c: WsTestClient, ignore: Surface<unknown>['ignore']): Promise<string> {
  for (;;) {
    const text = await c.receiveText({ timeout: REPLY_TIMEOUT })
    if (!ignore?.(parsed(text))) return text
  }
}

/** Send a probe and wait for its answer, skipping anything else (a bystander's backlog). */
async function probeClient<S>(surface: Surface<S>, c: WsTestClient, n: number): Promise<void> {
  const probe = surface.probe(n)
  c.send(probe.frame)
  await c.waitFor(probe.is, { timeout: REPLY_TIMEOUT })
}

/**
 * Run a surface's table: one app for the surface, one bystander, one fresh victim per row.
 * Rows run in order; each is a subtest named after the row.
 */
export async function runSurface<S>(t: Test, surface: Surface<S>): Promise<void> {
  const app = await startApp(surface.env ?? {})
  t.teardown(app.close)
  const shared = (await surface.setup?.(app)) as S
  const bystander = await surface.open(app, shared)
  let n = 0

  for (const row of surface.cases) {
    await t.test(row.name, async (t) => {
      const victim = await surface.open(app, shared)
      const before = surface.state?.(app, shared, victim)
      await sendHostile(victim.client, row.send)
      const expect = row.expect
      if ('close' in expect) {
        const info = await victim.client.expectClose(expect.close, { timeout: REPLY_TIMEOUT })
        if (expect.reason !== undefined) t.equal(info.reason, expect.reason, `closed with ${expect.close} "${expect.reason}"`)
      } else {
        // The probe goes right behind the hostile frame: replies come in order, so everything
        // before the probe's answer is the hostile frame's, and an extra reply shows up as a
        // frame that is not the probe's answer.
        const probe = surface.probe(++n)
        victim.client.send(probe.frame)
        const count = 'replies' in expect ? expect.replies.length : 'verbatim' in expect ? 1 : expect.count
        const texts: string[] = []
        for (let i = 0; i < count; i++) texts.push(await nextReply(victim.client, surface.ignore))
        if ('verbatim' in expect) t.equal(texts[0], expect.verbatim, 'echoed verbatim')
        else if ('replies' in expect) t.same(texts.map((x) => normalized(surface, x)), expect.replies, 'exact replies')
        else expect.assert(texts.map(parsed), t)
        const answer = parsed(await nextReply(victim.client, surface.ignore))
        t.ok(probe.is(answer), `the victim is still served, and nothing more came back (got ${JSON.stringify(answer).slice(0, 200)})`)
        if (surface.state && !row.changesState) t.same(surface.state(app, shared, victim), before, 'state unchanged')
      }
      await row.after?.({ app, shared, victim }, t)
      t.same(Object.keys(Object.prototype), [], 'Object.prototype untouched')
      await probeClient(surface, bystander.client, ++n)
      t.pass('the bystander is unaffected')
      victim.client.terminate()
      if (surface.quiet) await waitUntil(() => surface.quiet!(app, shared), `${surface.name} to forget the victim`)
    })
  }

  const errors = app.logs.filter((line) => JSON.parse(line).level >= 50)
  t.same(errors, [], `${surface.name}: nothing was logged as an error`)
  const live = await fetch(`${app.http}/health/live`)
  t.equal(live.status, 200, `${surface.name}: the process still serves`)
}

function normalized<S>(surface: Surface<S>, text: string): Frame {
  const frame = parsed(text)
  return surface.normalize ? surface.normalize(frame) : frame
}

/** A surface's `open` for a path that greets first (/ws, /ws/echo, /ws/health): the greeting is read. */
export function greeted(path: string): (app: TestApp) => Promise<Victim & { greeting: Frame }> {
  return async (app) => {
    const client = await app.connect(path)
    return { client, greeting: await client.receiveJson() }
  }
}

/** Replace `obj[name]` with `wrap(original)` until the test ends: a fault injected into live code. */
export function intercept<O extends object, K extends keyof O>(t: Test, obj: O, name: K, wrap: (original: O[K]) => O[K]): void {
  const original = obj[name]
  const bound = typeof original === 'function' ? (original as (...a: unknown[]) => unknown).bind(obj) as O[K] : original
  obj[name] = wrap(bound)
  t.teardown(() => {
    obj[name] = original
  })
}

/** Replace `keys` of `frame` (when present) with a marker of their type, checking the type. */
export function mask(frame: Frame, keys: Record<string, 'number' | 'string' | 'object'>): Frame {
  if (typeof frame !== 'object' || frame === null) return frame
  const out = { ...frame }
  for (const [key, type] of Object.entries(keys)) {
    if (key in out) out[key] = typeof out[key] === type ? `<${type}>` : `<not a ${type}: ${JSON.stringify(out[key])}>`
  }
  return out
}

// ---------------------------------------------------------------- HTTP

export interface HttpCase {
  name: string
  path: string
  body?: string | Buffer | (() => AsyncIterable<Buffer>)
  headers?: Record<string, string>
  status: number
  /** The exact JSON body, or a check of it. */
  reply: unknown | ((body: Frame, t: Test) => void)
}

/** The HTTP counterpart: each row is one POST; after each the server must still answer a good request. */
export async function runHttp(t: Test, opts: { env?: Env; healthy: { path: string; body: unknown; reply: unknown }; cases: HttpCase[] }): Promise<void> {
  const app = await startApp(opts.env ?? {})
  t.teardown(app.close)
  for (const row of opts.cases) {
    await t.test(row.name, async (t) => {
      const body = typeof row.body === 'function' ? row.body() : row.body
      const res = await fetch(`${app.http}${row.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...row.headers },
        body: body as BodyInit,
        ...(typeof row.body === 'function' ? { duplex: 'half' } : {})
      } as RequestInit)
      t.equal(res.status, row.status, `status ${row.status}`)
      const json = parsed(await res.text())
      if (typeof row.reply === 'function') (row.reply as (b: Frame, t: Test) => void)(json, t)
      else t.same(json, row.reply, 'exact body')
      t.same(Object.keys(Object.prototype), [], 'Object.prototype untouched')
      const good = await fetch(`${app.http}${opts.healthy.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(opts.healthy.body) })
      t.same(await good.json(), opts.healthy.reply, 'a good request is still served')
    })
  }
  const errors = app.logs.filter((line) => JSON.parse(line).level >= 50)
  t.same(errors, [], 'nothing was logged as an error')
}
