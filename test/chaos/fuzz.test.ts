// Property-based fuzzing (fast-check) of every dispatcher: random and mutated valid messages —
// the surfaces' own documented examples with keys dropped, added (prototype keys included) or
// retyped, then the JSON text cut or spliced — fed to each WebSocket surface of a live server,
// and to the validators and the chat domain directly. Invariants: no throw escapes (no 1011,
// nothing logged as an error, the connection stays open); every reply is valid JSON of a type
// that surface documents (its AsyncAPI `send` schemas), or on /ws the verbatim echo of text that
// is not a JSON object; FastChat state does not change unless a reply says it did.
// More runs with LONG_TESTS=1 or CI=true (FUZZ_RUNS overrides).
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Type, type TSchema } from '@sinclair/typebox'
import { startApp, type TestApp } from '../helpers/app.ts'
import { join, openChat, type ChatUser } from '../helpers/fastchat.ts'
import { coreSurfaces, walkerSurfaces } from '../../src/docs/surfaces.ts'
import type { SurfaceDoc } from '../../src/docs/asyncapi.ts'
import { checkClientMessage, ClientMessages, MAX_FIELD_ERRORS, ServerMessages } from '../../src/protocol/fastchat.ts'
import { ActionError, MAX_ACTION_ERRORS } from '../../src/protocol/action.ts'
import { echoConsumer } from '../../src/consumers/echo.ts'
import { parseInput, isReply } from '../../src/walkers/execute.ts'
import { WalkerEnvelope } from '../../src/protocol/walker.ts'
import { stringifyDeep } from '../../src/lib/json.ts'
import { cleanText, CONTENT_LENGTH, DISPLAY_NAME_LENGTH } from '../../src/protocol/fastchat.ts'
import { addressKey } from '../../src/transport/caps.ts'
import { instance, FakePeer } from '../helpers/chat-fakes.ts'
import type { WsTestClient } from '../../src/testing/ws-test-client.ts'

const LONG = process.env.CI === 'true' || process.env.LONG_TESTS === '1'
const RUNS = Number(process.env.FUZZ_RUNS ?? (LONG ? 5000 : 1000))
const PURE_RUNS = RUNS * 8
t.comment(`fuzz: ${RUNS} frames per surface, ${PURE_RUNS} per pure dispatcher${LONG ? '' : ' (LONG_TESTS=1 or CI=true for more)'}`)

const PARTNER = '3f1c2b9e-8a47-4d2b-9c1e-5b7a2d4e6f80'
const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e'

// ---------------------------------------------------------------- mutated messages

const KEYS = ['type', 'data', 'action', 'payload', 'user_id', 'display_name', 'capabilities', 'token', 'target_user_id', 'target_display_name',
  'to', 'content', 'message_id', 'is_typing', 'status', 'message', 'client_id', 'n', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '']
const TYPES = [...Object.keys(ClientMessages), ...Object.keys(ClientMessages).map((k) => k.toLowerCase()), 'ping', 'pong', 'get_status', 'echo', 'probe', 'complete', 'error', '__proto__', 'constructor']

/** Values that mean something to some dispatcher, and values that break expectations. */
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: fc.constantFrom<unknown>(PARTNER, UUID, 'presence_delta', true, false, null, 0, -1, 1e308, '', ' ', [], {}, '__proto__', 'constructor', ...TYPES) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('<script>alert(1)</script>', '<<b>b>', '&lt;x&gt;', '\u0000\u202e\u200b\ud800', 'x'.repeat(1001), '<!--'.repeat(300)) }
)
const key = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) })

type Mutation = { op: 'drop' | 'set'; at: number; k: number; key: string; value: unknown }
const mutation: fc.Arbitrary<Mutation> = fc.record({ op: fc.constantFrom('drop', 'set'), at: fc.nat(), k: fc.nat(), key, value })

/** Every object and array inside `v`, outermost first. */
function containers(v: unknown): (Record<string, unknown> | unknown[])[] {
  const out: (Record<string, unknown> | unknown[])[] = []
  const stack = [v]
  while (stack.length) {
    const x = stack.pop()
    if (typeof x !== 'object' || x === null) continue
    out.push(x as Record<string, unknown>)
    stack.push(...Object.values(x))
  }
  return out
}

function mutate(example: unknown, mutations: Mutation[]): unknown {
  const root = { root: structuredClone(example) }
  for (const original of mutations) {
    // Cloned: fast-check hands the same constant ([], {}) to many runs, which must not share it.
    const m = { ...original, value: structuredClone(original.value) }
    const all = containers(root)
    const c = all[m.at % all.length]!
    const keys = Object.keys(c)
    if (m.op === 'drop' && keys.length) {
      if (Array.isArray(c)) c.splice(m.k % c.length, 1)
      else delete c[keys[m.k % keys.length]!]
    } else if (Array.isArray(c)) {
      c[m.k % (c.length + 1)] = m.value
    } else {
      // An own property even for "__proto__", as JSON.parse would make it and JSON.stringify writes it.
      const name = m.op === 'set' && m.k % 2 === 0 && keys.length ? keys[m.k % keys.length]! : m.key
      Object.defineProperty(c, name, { value: m.value, enumerable: true, writable: true, configurable: true })
    }
  }
  return root.root
}

/** JSON text of a mutated value; a mutation may have dropped the whole value. */
const json = (v: unknown): string => JSON.stringify(v) ?? 'null'

type TextMutation = { op: 'none' } | { op: 'cut'; at: number } | { op: 'splice'; at: number; text: string }
const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ op: 'none' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cut' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('splice' as const), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('{', '}', '"', ',', ':', '\\', '[', ']', '\\u0000', '\\ud800')) }) }
)

function applyText(text: string, m: TextMutation): string {
  if (m.op === 'none') return text
  const at = m.at % (text.length + 1)
  return m.op === 'cut' ? text.slice(0, at) : text.slice(0, at) + m.text + text.slice(at)
}

type Frame = { text: string } | { binary: Uint8Array }

/** Frames for a surface: mostly its documented examples mutated, some arbitrary text and binary. */
function frames(examples: unknown[]): fc.Arbitrary<Frame> {
  const mutated = fc.tuple(fc.constantFrom(...examples), fc.array(mutation, { maxLength: 4 }), textMutation)
    .map(([ex, ms, tm]) => ({ text: applyText(typeof ex === 'string' ? ex : json(mutate(ex, ms)), tm) }))
  return fc.oneof(
    { weight: 12, arbitrary: mutated },
    { weight: 1, arbitrary: fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'grapheme' })).map((text) => ({ text })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })) }
  )
}

// ---------------------------------------------------------------- the live surfaces

/** The documented replies of a surface, as one compiled check (text-frame docs excluded). */
function replyCheck(doc: SurfaceDoc) {
  const schemas = doc.send.filter((m) => !m.text).map((m) => m.schema)
  return TypeCompiler.Compile(Type.Union(schemas as TSchema[]))
}

interface Live {
  doc: SurfaceDoc
  client: WsTestClient
  /** Send `frame` and return every reply to it (text), using a probe the surface answers in order. */
  exchange(frame: Frame): Promise<string[]>
}

let nonce = 0
async function repliesBefore(c: WsTestClient, frame: Frame, probe: unknown, isProbe: (m: { [k: string]: unknown }) => boolean): Promise<string[]> {
  if ('binary' in frame) c.sendBinary(Buffer.from(frame.binary))
  else c.send(frame.text)
  c.send(probe)
  const out: string[] = []
  for (;;) {
    const text = await c.receiveText({ timeout: 5000 })
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    if (typeof parsed === 'object' && parsed !== null && isProbe(parsed as { [k: string]: unknown })) return out
    out.push(text)
  }
}

/** Replies from a surface whose handler is synchronous: a protocol ping's pong comes after them. */
async function repliesBeforePong(c: WsTestClient, frame: Frame): Promise<string[]> {
  const payload = Buffer.from(`fuzz-${++nonce}`)
  const ponged = new Promise<void>((resolve) => {
    const onPong = (data: Buffer) => {
      if (!data.equals(payload)) return
      c.ws.off('pong', onPong)
      resolve()
    }
    c.ws.on('pong', onPong)
  })
  if ('binary' in frame) c.sendBinary(Buffer.from(frame.binary))
  else c.send(frame.text)
  c.ws.ping(payload)
  await ponged
  const out: string[] = []
  while (c.pending > 0) out.push(await c.receiveText())
  return out
}

const echoProbe = (c: WsTestClient, frame: Frame) => {
  const n = `probe-${++nonce}`
  return repliesBefore(c, frame, { type: 'probe', n }, (m) => m.type === 'echo' && ((m.data ?? m.original) as { n?: string })?.n === n)
}

/** Is `text` a reply `doc` documents, or (on /ws) the verbatim echo of `sent`? */
function assertReply(t: Test, doc: SurfaceDoc, check: ReturnType<typeof replyCheck>, sent: Frame, text: string): boolean {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (parsed !== undefined && check.Check(parsed)) return true
  const verbatim = doc.address === '/ws' && 'text' in sent && text === Buffer.from(sent.text).toString()
  if (verbatim) return true
  t.fail(`${doc.address}: an undocumented reply ${text.slice(0, 300)} to ${JSON.stringify(sent).slice(0, 300)}`)
  return false
}

async function fuzzSurface(t: Test, app: TestApp, live: Live, opts: { state?: () => unknown; onReplies?: (replies: string[]) => Promise<void> } = {}): Promise<void> {
  const check = replyCheck(live.doc)
  const examples = live.doc.receive.flatMap((m) => m.examples)
  let runs = 0
  let replies = 0
  await fc.assert(fc.asyncProperty(frames(examples), async (frame) => {
    runs++
    const before = opts.state?.()
    const got = await live.exchange(frame)
    replies += got.length
    for (const text of got) if (!assertReply(t, live.doc, check, frame, text)) return false
    if (!live.client.isOpen) {
      t.fail(`${live.doc.address}: closed after ${JSON.stringify(frame).slice(0, 300)}`)
      return false
    }
    if (opts.state && !got.some((r) => /"type":"(HELLO_ACK)"/.test(r))) {
      const after = opts.state()
      if (JSON.stringify(after) !== JSON.stringify(before)) {
        t.fail(`${live.doc.address}: state changed (${JSON.stringify(before)} → ${JSON.stringify(after)}) by ${JSON.stringify(frame).slice(0, 300)}, replies ${got.join(' ').slice(0, 300)}`)
        return false
      }
    }
    await opts.onReplies?.(got)
    return true
  }), { numRuns: RUNS })
  const errors = app.logs.filter((l) => JSON.parse(l).level >= 50)
  t.same(errors, [], 'nothing logged as an error')
  t.pass(`${live.doc.address}: ${runs} frames, ${replies} replies, all documented; still open`)
}

t.test('every WebSocket surface, fuzzed over a live socket', async (t) => {
  const app = await startApp({ WS_FRAMES_PER_SEC: 1_000_000, WS_FRAME_BURST: 1_000_000, CHAT_MSG_PER_MIN: 1_000_000, CHAT_TYPING_PER_MIN: 1_000_000 })
  t.teardown(app.close)
  const docs = new Map([...coreSurfaces(), ...walkerSurfaces(app.app.walkers.list())].map((d) => [d.address, d]))
  const partner: ChatUser = await join(app, 'Partner', { user_id: PARTNER })
  const presence = app.app.presence
  const snapshot = (ids: string[]) => () => ({ size: presence.size, names: ids.map((id) => presence.displayName(id) ?? null) })

  await t.test('/ws, identified with a chat open: presence never changes', async (t) => {
    const me = await join(app, 'Fuzzer')
    await openChat(me, partner)
    await fuzzSurface(t, app, { doc: docs.get('/ws')!, client: me.client, exchange: (f) => echoProbe(me.client, f) }, { state: snapshot([me.user_id, PARTNER]) })
  })

  await t.test('/ws before HELLO: presence changes only with a HELLO_ACK', async (t) => {
    const fresh = async () => {
      const c = await app.connect('/ws')
      await c.receiveJson() // WELCOME
      return c
    }
    const live: Live = { doc: docs.get('/ws')!, client: await fresh(), exchange: (f) => echoProbe(live.client, f) }
    const baseline = presence.size
    await fuzzSurface(t, app, live, {
      state: () => presence.size,
      // A HELLO that got through: start again from a stranger, once the identified one left.
      async onReplies(replies) {
        if (!replies.some((r) => r.includes('"type":"HELLO_ACK"'))) return
        live.client.terminate()
        live.client = await fresh()
        const deadline = Date.now() + 2000
        while (presence.size !== baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
      }
    })
  })

  await t.test('/ws/echo, both dialects', async (t) => {
    const c = await app.connect('/ws/echo')
    await c.receiveJson() // welcome
    await fuzzSurface(t, app, { doc: docs.get('/ws/echo')!, client: c, exchange: (f) => echoProbe(c, f) })
  })

  await t.test('/ws/health', async (t) => {
    const c = await app.connect('/ws/health')
    await c.receiveJson() // health_status connected
    await fuzzSurface(t, app, { doc: docs.get('/ws/health')!, client: c, exchange: (f) => repliesBeforePong(c, f) })
  })

  await t.test('/ws/EchoMessage (walker)', async (t) => {
    const c = await app.connect('/ws/EchoMessage')
    const exchange = (f: Frame) => {
      const n = `probe-${++nonce}`
      return repliesBefore(c, f, { message: n }, (m) => m.ok === true && (m.data as { reports: { echo?: string }[] }).reports[0]?.echo === n)
    }
    await fuzzSurface(t, app, { doc: docs.get('/ws/EchoMessage')!, client: c, exchange })
  })
})

// ---------------------------------------------------------------- the dispatchers, directly

const fastchatExamples = coreSurfaces()[0]!.receive.filter((m) => !m.text).flatMap((m) => m.examples)
const actionExamples = coreSurfaces()[1]!.receive.filter((m) => m.name.startsWith('action_')).flatMap((m) => m.examples)
const mutatedObject = (examples: unknown[]) => fc.tuple(fc.constantFrom(...examples), fc.array(mutation, { maxLength: 5 })).map(([ex, ms]) => mutate(ex, ms))

t.test('checkClientMessage: never throws; what it accepts matches the schema, what it refuses names at most 20 fields', async () => {
  const schemas = new Map(Object.entries(ClientMessages).map(([k, s]) => [k, TypeCompiler.Compile(s)]))
  fc.assert(fc.property(mutatedObject(fastchatExamples), (msg) => {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return true
    const type = (msg as { type?: unknown }).type
    if (typeof type !== 'string' || !schemas.has(type)) return true
    const r = checkClientMessage(msg as Parameters<typeof checkClientMessage>[0])
    if (r.ok) return schemas.get(type)!.Check(r.message)
    return r.errors.length >= 1 && r.errors.length <= MAX_FIELD_ERRORS && r.errors.every((e) => typeof e.path === 'string' && typeof e.message === 'string')
  }), { numRuns: PURE_RUNS })
})

t.test('the action consumer: never throws; errors are pydantic-shaped, at most 20', async () => {
  const actionError = TypeCompiler.Compile(ActionError)
  fc.assert(fc.property(mutatedObject(actionExamples), (msg) => {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return true
    const v = echoConsumer.validate(msg as Record<string, unknown>)
    return v.ok ? echoConsumer.actionNames.includes(v.action) : v.errors.length >= 1 && v.errors.length <= MAX_ACTION_ERRORS && v.errors.every((e) => actionError.Check(e))
  }), { numRuns: PURE_RUNS })
})

t.test('walker input: parse and prepare never throw; every refusal is a walker envelope', async (t) => {
  const app = await startApp()
  t.teardown(app.close)
  const walker = app.app.walkers.get('EchoMessage')!
  const envelope = TypeCompiler.Compile(WalkerEnvelope)
  fc.assert(fc.property(fc.tuple(mutatedObject([{ message: 'hello', client_id: 'c-1' }]), textMutation), ([msg, tm]) => {
    const input = parseInput(applyText(json(msg), tm))
    if (isReply(input)) return envelope.Check(JSON.parse(input.frame))
    const prepared = walker.prepare(input)
    return prepared.ok ? typeof prepared.fields.message === 'string' : prepared.details.length >= 1 && prepared.details.length <= 20
  }), { numRuns: PURE_RUNS })
})

t.test('the chat domain: any validated message dispatches without throwing and answers with documented frames only', async (t) => {
  const node = await instance()
  t.teardown(node.close)
  const partner = await node.connect('Partner', PARTNER)
  const me = await node.connect('Fuzzer', UUID)
  await node.chat.dispatch(me.session, { type: 'OPEN_CHAT', data: { target_user_id: PARTNER } })
  const server = TypeCompiler.Compile(Type.Union(Object.values(ServerMessages)))
  await fc.assert(fc.asyncProperty(mutatedObject(fastchatExamples), async (msg) => {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return true
    const type = (msg as { type?: unknown }).type
    if (typeof type !== 'string' || !Object.hasOwn(ClientMessages, type)) return true
    const checked = checkClientMessage(msg as Parameters<typeof checkClientMessage>[0])
    if (!checked.ok) return true
    me.peer.clear()
    await node.chat.dispatch(me.session, checked.message)
    const bad = [...me.peer.frames, ...partner.peer.frames].filter((f) => !server.Check(JSON.parse(f)))
    partner.peer.clear()
    return bad.length === 0 && node.presence.displayName(UUID) === 'Fuzzer' && me.session.user?.user_id === UUID
  }), { numRuns: PURE_RUNS })
  t.ok(me.peer instanceof FakePeer)
})

t.test('text cleaning: idempotent, and nothing unsafe survives', async () => {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const unsafeContent = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
  const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' }), fc.array(fc.constantFrom('<', '>', 'a', 'b', '/', '!', '\u0000', '\u202e', '\u200b', '\ud800', '\udc00', '<b>', '<script>', '</script>', ' '), { maxLength: 40 }).map((p) => p.join('')))
  fc.assert(fc.property(text, (s) => {
    for (const rule of [CONTENT_LENGTH, DISPLAY_NAME_LENGTH]) {
      const once = cleanText(s, { ...rule, min: 0, max: Infinity })
      if (!once.ok) return false
      if (unsafeContent.test(once.text)) return false
      if (rule.kind === 'name' && /(?![\u200C\u200D])[\p{Cc}\p{Cf}]/u.test(once.text.replace(/[\u{E0020}-\u{E007F}]/gu, ''))) return false
      const twice = cleanText(once.text, { ...rule, min: 0, max: Infinity })
      if (!twice.ok || twice.text !== once.text) return false
    }
    return true
  }), { numRuns: PURE_RUNS })
})

t.test('the deep JSON writer writes exactly what JSON.stringify writes', async () => {
  fc.assert(fc.property(fc.jsonValue(), (v) => stringifyDeep(v) === JSON.stringify(v)), { numRuns: PURE_RUNS })
})

t.test('addressKey never throws and keys IPv4 addresses as themselves', async () => {
  fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), (ip) => typeof addressKey(ip) === 'string'), { numRuns: PURE_RUNS })
  fc.assert(fc.property(fc.ipV4(), (ip) => addressKey(ip) === ip && addressKey(`::ffff:${ip}`) === ip), { numRuns: PURE_RUNS })
})
