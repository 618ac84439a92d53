// /asyncapi.json for /ws as client generators read it (issue 16): two channels at one address,
// `main` (the greeting, the echo, and FastChat in its envelope) and `main_flat` (the FastChat
// app's flat dialect), each discriminated by `type`; and every frame the server sends on /ws in
// either dialect, read off real sockets, accepted by exactly one message of its own channel and
// by none of the other's.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { assertOwnChannels, fetchDoc, payloads, PYTHON_KEYWORDS, validator, type Doc } from './helpers/asyncapi.ts'
import { startApp, type TestApp } from './helpers/app.ts'
import { FlatTab, type FlatFrame } from './helpers/flat-client.ts'
import { TimeoutError, type WsTestClient } from '../src/testing/ws-test-client.ts'
import { isIdentifier } from '../src/docs/asyncapi.ts'
import { FlatServerMessages } from '../src/protocol/fastchat-flat.ts'
import { isPlainObject } from '../src/lib/json.ts'

type Channel = 'main' | 'main_flat'
/* eslint-disable @typescript-eslint/no-explicit-any -- frames are read field by field */
type Frame = any

const FLAT_TYPES = new Set(Object.keys(FlatServerMessages))

/**
 * A frame as its channel sees it: a JSON object as parsed, anything else as the text it was
 * (the verbatim echo is `text/plain`). On a flat connection the FastChat frames are `main_flat`'s;
 * the greeting and the echo replies stay `main`'s, as on every /ws socket.
 */
function classify(text: string | Frame, flat: boolean): { channel: Channel; frame: unknown } {
  let parsed: unknown = text
  if (typeof text === 'string') {
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
  }
  if (!isPlainObject(parsed)) return { channel: 'main', frame: text }
  return { channel: flat && FLAT_TYPES.has(parsed.type as string) ? 'main_flat' : 'main', frame: parsed }
}

/** A socket whose every frame is kept, in order, however the test reads it. */
class Tap {
  readonly seen: string[] = []
  constructor(readonly c: WsTestClient, readonly flat = false) {}

  send(frame: unknown): void {
    this.c.send(frame)
  }

  /** Frames until a JSON one satisfies `pred`, which is returned; every one is kept. */
  async until(pred: (f: Frame) => boolean, timeout = 3000): Promise<Frame> {
    for (;;) {
      const text = await this.c.receiveText({ timeout })
      this.seen.push(text)
      let f: unknown
      try {
        f = JSON.parse(text)
      } catch {
        continue
      }
      if (pred(f)) return f
    }
  }

  /** Whatever else arrives within `ms` (or before the socket closed). */
  async drain(ms = 200): Promise<void> {
    try {
      for (;;) this.seen.push(await this.c.receiveText({ timeout: ms }))
    } catch (err) {
      if (!(err instanceof TimeoutError) && this.c.isOpen) throw err
    }
  }
}

interface User { tap: Tap; user_id: string; display_name: string; ack: Frame }

/** Every frame of /ws a test session reads: taps (enveloped or raw) and the app-like flat tabs. */
function session(s: TestApp) {
  const taps: Tap[] = []
  const tabs: FlatTab[] = []
  const open = async (flat = false): Promise<Tap> => {
    const tap = new Tap(await s.connect('/ws'), flat)
    taps.push(tap)
    await tap.until((f) => f.type === 'WELCOME')
    return tap
  }
  return {
    open,
    /** An enveloped HELLO; resolves after HELLO_ACK and the first PRESENCE (and CHATS, for history). */
    async join(display_name: string, extra: Record<string, unknown> = {}, user_id: string = randomUUID()): Promise<User> {
      const tap = await open()
      tap.send({ type: 'HELLO', data: { user_id, display_name, ...extra } })
      const ack = await tap.until((f) => f.type === 'HELLO_ACK' || f.type === 'ERROR')
      if (ack.type !== 'HELLO_ACK') throw new Error(`HELLO refused: ${JSON.stringify(ack)}`)
      await tap.until((f) => f.type === 'PRESENCE')
      if ((extra.capabilities as string[] | undefined)?.includes('history')) await tap.until((f) => f.type === 'CHATS')
      return { tap, user_id, display_name, ack }
    },
    /** A tab as the FastChat app's frontend behaves, heartbeat sped up. */
    async tab(display_name: string): Promise<FlatTab> {
      const tab = await FlatTab.open({ connect: () => s.connect('/ws'), display_name, pingMs: 150 })
      tabs.push(tab)
      await tab.until(() => tab.connected, 'HELLO_ACK')
      return tab
    },
    /** Every frame sent to every socket so far, with its channel, once the sockets went quiet (a tab may miss its greeting, which it ignores: the taps' are checked). */
    async frames(): Promise<{ channel: Channel; frame: unknown }[]> {
      await Promise.all(taps.map((x) => x.drain()))
      return [
        ...taps.flatMap((x) => x.seen.map((text) => classify(text, x.flat))),
        ...tabs.flatMap((x) => x.frames.map((f: FlatFrame) => classify(f, true)))
      ]
    },
    async close(): Promise<void> {
      for (const tab of tabs) await tab.close()
    }
  }
}

t.test('/ws is two channels at one address, main and main_flat, each discriminated by type', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const doc = await fetchDoc(s.http)
  t.same(Object.entries(doc.channels).filter(([, c]) => c.address === '/ws').map(([id, c]) => [id, c.title]), [['main', 'main'], ['main_flat', 'main_flat']])

  // The names generated models get, exactly.
  t.same(payloads(doc, 'main_flat', 'receive').map(([n]) => n), [
    'MainFlatHELLOFromClient', 'MainFlatOPENCHATFromClient', 'MainFlatMSGFromClient', 'MainFlatMSGACKFromClient', 'MainFlatTYPINGFromClient', 'MainFlatPINGFromClient', 'MainFlatPONGFromClient'
  ])
  t.same(payloads(doc, 'main_flat', 'send').map(([n]) => n), [
    'MainFlatHELLOACKFromServer', 'MainFlatPRESENCEFromServer', 'MainFlatCHATOPENEDFromServer', 'MainFlatMSGFromServer', 'MainFlatMSGACKFromServer',
    'MainFlatTYPINGFromServer', 'MainFlatPONGFromServer', 'MainFlatERRORFromServer'
  ])
  t.same(payloads(doc, 'main', 'send').map(([n]) => n), [
    'MainWELCOMEFromServer', 'MainTextFromServer', 'MainPongFromServer', 'MainEchoFromServer', 'MainHELLOACKFromServer', 'MainPRESENCEFromServer', 'MainCHATOPENEDFromServer',
    'MainMSGFromServer', 'MainMSGACKFromServer', 'MainTYPINGFromServer', 'MainPONGFromServer', 'MainCHATSFromServer', 'MainHISTORYFromServer', 'MainERRORFromServer'
  ])

  for (const channel of ['main', 'main_flat']) {
    for (const dir of ['send', 'receive'] as const) {
      // Every JSON payload pins its `type` (main's plain text and any-object frames have none).
      const tagged = payloads(doc, channel, dir).filter(([, p]) => p.properties?.type?.const !== undefined)
      for (const [name, p] of tagged) {
        t.equal(p.discriminator, 'type', `${name}: discriminator type`)
        t.ok(p.required?.includes('type'), `${name}: type is required`)
      }
      const types = tagged.map(([, p]) => p.properties!.type!.const)
      t.equal(new Set(types).size, types.length, `${channel} ${dir}: no two models share a type`)
    }
  }
  t.equal(payloads(doc, 'main_flat', 'send').length, Object.keys(FlatServerMessages).length, 'main_flat: one model per flat server frame')

  // A generated Python model is a class per payload: its fields and docstring must be Python.
  const schemas = (channel: string) => [...payloads(doc, channel, 'send'), ...payloads(doc, channel, 'receive')]
  for (const [name, p] of schemas('main_flat')) {
    for (const field of Object.keys(p.properties ?? {})) t.ok(isIdentifier(field) && !PYTHON_KEYWORDS.has(field), `${name}.${field} is a field name`)
    t.notMatch(p.description ?? '', /"""|["\\]$/, `${name}: its description fits a docstring`)
  }
  // What the server sends a flat connection is exact; what it reads of one ignores unknown keys.
  const extra = (channel: string, dir: 'send' | 'receive') => payloads(doc, channel, dir).map(([, p]) => (p as { additionalProperties?: boolean }).additionalProperties)
  t.ok(extra('main_flat', 'send').every((a) => a === false), 'flat server frames: no other keys')
  t.ok(extra('main_flat', 'receive').every((a) => a === true), 'flat client frames: unknown keys allowed')
})

t.test('every frame the server sends on /ws, enveloped and flat, validates against its own channel\'s messages, and no other\'s', async (t) => {
  const s = await startApp({ CHAT_MSG_PER_MIN: 10, CHAT_TYPING_PER_MIN: 4 })
  t.teardown(s.close)
  const ws = session(s)
  t.teardown(ws.close)

  // Before HELLO: the greeting, the echo, text, pong, PONG, and refusals.
  const anon = await ws.open()
  for (const f of ['hello', '[1,{"a":[]}]', '"a string"', '5', 'not json {', { type: 'custom', data: 'test' }, { type: 'ping' }, { type: 'PING' }, { type: 'PING', data: {} },
    { type: 'OPEN_CHAT', data: { target_user_id: randomUUID() } }, { type: 'MSG', content: 'flat, before HELLO' }, { type: 'HELLO', data: { user_id: 'nope', display_name: 'x' } }]) anon.send(f)
  anon.c.sendBinary(Buffer.from([1, 2, 3]))
  anon.send({ type: 'probe', n: 'last' })
  await anon.until((f) => f.type === 'echo' && f.data?.n === 'last')

  // Enveloped FastChat: full and delta presence, a chat, messages, acks, receipts, typing, pongs, errors.
  const alice = await ws.join('Alice', { capabilities: ['presence_delta'] })
  alice.tap.send({ type: 'HELLO', data: { user_id: alice.user_id, display_name: 'Alice' } })
  await alice.tap.until((f) => f.type === 'ERROR') // already identified
  const bob = await ws.join('Bob')
  await alice.tap.until((f) => f.type === 'PRESENCE' && f.data.users.length === 1 && f.data.users[0].user_id === bob.user_id) // a delta
  alice.tap.send({ type: 'TYPING', data: { is_typing: true, to: bob.user_id } })
  await alice.tap.until((f) => f.type === 'ERROR' && f.data.code === 'CHAT_NOT_OPENED')
  alice.tap.send({ type: 'OPEN_CHAT', data: { target_user_id: randomUUID() } })
  await alice.tap.until((f) => f.type === 'ERROR' && f.data.code === 'USER_NOT_FOUND')
  alice.tap.send({ type: 'OPEN_CHAT', data: { target_user_id: bob.user_id, target_display_name: 'Bob' } })
  await Promise.all([alice.tap.until((f) => f.type === 'CHAT_OPENED'), bob.tap.until((f) => f.type === 'CHAT_OPENED')])
  alice.tap.send({ type: 'MSG', data: { to: bob.user_id, content: 'Hello Bob', message_id: 'a-1' } })
  await bob.tap.until((f) => f.type === 'MSG')
  await alice.tap.until((f) => f.type === 'MSG_ACK' && f.data.status === 'delivered')
  bob.tap.send({ type: 'MSG_ACK', data: { message_id: 'a-1' } })
  await alice.tap.until((f) => f.type === 'MSG_ACK' && f.data.status === 'received')
  alice.tap.send({ type: 'MSG', data: { to: alice.user_id, content: 'me', message_id: 'a-2' } })
  await alice.tap.until((f) => f.type === 'ERROR' && f.data.code === 'VALIDATION')
  alice.tap.send({ type: 'TYPING', data: { is_typing: true, to: bob.user_id } })
  await bob.tap.until((f) => f.type === 'TYPING')
  for (let i = 0; i < 4; i++) alice.tap.send({ type: 'TYPING', data: { is_typing: i % 2 === 0, to: bob.user_id } })
  await alice.tap.until((f) => f.type === 'ERROR' && f.data.code === 'RATE_LIMITED')
  bob.tap.send({ type: 'PING' })
  bob.tap.send({ type: 'PING', data: {} })
  await bob.tap.until((f) => f.type === 'PONG')
  await bob.tap.until((f) => f.type === 'PONG')

  // History (SPEC 9): claims, CHATS, last_seq, stored acks, MSG with its place, HISTORY pages.
  const carol = await ws.join('Carol', { capabilities: ['history'] })
  const dave = await ws.join('Dave', { capabilities: ['history'] })
  carol.tap.send({ type: 'OPEN_CHAT', data: { target_user_id: dave.user_id } })
  const opened = await carol.tap.until((f) => f.type === 'CHAT_OPENED')
  await dave.tap.until((f) => f.type === 'CHAT_OPENED')
  carol.tap.send({ type: 'MSG', data: { to: dave.user_id, content: 'Hello Dave', message_id: 'c-1' } })
  const got = await dave.tap.until((f) => f.type === 'MSG')
  await carol.tap.until((f) => f.type === 'MSG_ACK' && f.data.message_id === 'c-1' && f.data.status === 'delivered')
  dave.tap.send({ type: 'MSG_ACK', data: { message_id: 'c-1', chat_id: got.data.chat_id } })
  await carol.tap.until((f) => f.type === 'MSG_ACK' && f.data.status === 'received')
  carol.tap.send({ type: 'HISTORY', data: { chat_id: opened.data.chat_id } })
  await carol.tap.until((f) => f.type === 'HISTORY')
  carol.tap.send({ type: 'HISTORY', data: { chat_id: 'chat_none', after_seq: 1, before_seq: 3 } })
  carol.tap.send({ type: 'HISTORY', data: { chat_id: 'chat_none' } })
  await carol.tap.until((f) => f.type === 'ERROR' && f.data.code === 'CHAT_NOT_OPENED')
  const carol2 = await ws.join('Carol', { capabilities: ['history'], claim: carol.ack.data.claim }, carol.user_id)
  t.ok(carol2.tap.seen.some((x) => /"type":"CHATS".*"last_seq":1/.test(x)), 'a second history tab lists the chat')
  // A message to a known user who is offline is stored, and its ack says so.
  const frank = await ws.join('Frank', { capabilities: ['history'] })
  await frank.tap.c.close()
  await carol.tap.until((f) => f.type === 'PRESENCE' && !f.data.users.some((u: Frame) => u.user_id === frank.user_id))
  carol.tap.send({ type: 'OPEN_CHAT', data: { target_user_id: frank.user_id } })
  await carol.tap.until((f) => f.type === 'CHAT_OPENED' && f.data.target_user_id === frank.user_id)
  carol.tap.send({ type: 'MSG', data: { to: frank.user_id, content: 'Hello Frank', message_id: 'c-2' } })
  await carol.tap.until((f) => f.type === 'MSG_ACK' && f.data.message_id === 'c-2')

  // Flat tabs as the app behaves: presence, a chat, messages both ways with acks and receipts, typing, heartbeats, errors.
  const x = await ws.tab('MerryZebra445')
  const y = await ws.tab('MerryGiraffe695')
  x.sendRaw({ type: 'MSG', content: 'nobody to talk to' })
  x.sendRaw({ type: 'OPEN_CHAT', target_user_id: randomUUID(), target_display_name: 'Ghost' })
  await x.until(() => x.errors.length >= 2, 'CHAT_NOT_OPENED and USER_NOT_FOUND')
  x.openChat(y)
  await y.until(() => y.selected?.user_id === x.user_id, 'CHAT_OPENED')
  x.say('hello y')
  y.say('hello x')
  // Each tab's ack is `delivered`; the other's receipt is a no-op for a flat sender.
  await x.until(() => x.messages.length === 1 && x.frames.some((f) => f.type === 'MSG_ACK' && f.status === 'delivered'), 'its ack and y\'s message')
  await y.until(() => y.messages.length === 1 && y.frames.some((f) => f.type === 'MSG_ACK' && f.status === 'delivered'), 'its ack and x\'s message')
  x.setTyping(true)
  x.setTyping(false)
  await y.until(() => y.frames.filter((f) => f.type === 'TYPING').length >= 2, 'typing true, then false')
  x.sendRaw({ type: 'MSG', content: '   ' })
  x.sendRaw({ type: 'MSG_ACK', status: 'received' })
  x.sendRaw({ type: 'TYPING', is_typing: true, to: x.user_id })
  for (let i = 0; i < 12; i++) x.sendRaw({ type: 'MSG', content: `flood ${i}` })
  await x.until(() => x.frames.some((f) => f.type === 'ERROR' && f.error_code === 'RATE_LIMITED'), 'RATE_LIMITED')
  await x.until(() => x.pongs >= 2 && y.pongs >= 2, 'heartbeats answered')

  // A flat tab and an enveloped user chat; the enveloped side sees flat users in presence.
  const z = await ws.tab('SleepyPanda300')
  const eve = await ws.join('Eve')
  await z.until(() => z.online.has(eve.user_id), 'Eve in the flat list')
  eve.tap.send({ type: 'OPEN_CHAT', data: { target_user_id: z.user_id } })
  await z.until(() => z.selected?.user_id === eve.user_id, 'the tab selects Eve')
  eve.tap.send({ type: 'MSG', data: { to: z.user_id, content: 'hi z', message_id: 'e-1' } })
  await eve.tap.until((f) => f.type === 'MSG_ACK' && f.data.status === 'received')
  z.say('hi eve')
  z.setTyping(true)
  await eve.tap.until((f) => f.type === 'TYPING')
  eve.tap.send({ type: 'TYPING', data: { is_typing: true, to: z.user_id } })
  await z.until(() => z.typing.get(eve.user_id) === true, 'Eve typing')

  // A flat connection driven by hand: a bad HELLO, a HELLO without user_id, and main's replies on the same socket.
  const raw = await ws.open(true)
  raw.send({ type: 'HELLO', display_name: 'ab', session_id: 's-1' })
  await raw.until((f) => f.type === 'ERROR')
  raw.send({ type: 'HELLO', display_name: 'QuietOtter12', session_id: 's-1', some_future_field: 1 })
  await raw.until((f) => f.type === 'PRESENCE')
  for (const f of ['plain text', { type: 'custom', data: 'test' }, { type: 'ping' }, { type: 'PING' }, { type: 'PONG' }, { type: 'HELLO', display_name: 'QuietOtter12' }]) raw.send(f)
  raw.send({ type: 'probe', n: 'last' })
  await raw.until((f) => f.type === 'echo' && f.data?.n === 'last')
  await z.close()
  await eve.tap.until((f) => f.type === 'PRESENCE' && !f.data.users.some((u: Frame) => u.user_id === z.user_id))

  const sent = await ws.frames()
  const doc: Doc = await fetchDoc(s.http)
  assertOwnChannels(t, doc, ['main', 'main_flat'], sent)

  // And the variants each dialect has, among them.
  const of = (channel: Channel) => sent.filter((f) => f.channel === channel).map((f) => f.frame as Frame)
  const main = of('main')
  const flat = of('main_flat')
  const has = (frames: Frame[], what: string, pred: (f: Frame) => boolean) => t.ok(frames.some((f) => typeof f === 'object' && pred(f)), what)
  has(main, 'PRESENCE, full', (f) => f.type === 'PRESENCE' && f.data.users.length > 1)
  has(main, 'PRESENCE, a delta', (f) => f.type === 'PRESENCE' && f.data.users.length === 1 && f.data.users[0].user_id === bob.user_id)
  has(main, 'PRESENCE listing a flat user', (f) => f.type === 'PRESENCE' && f.data.users.some((u: Frame) => u.user_id === z.user_id))
  has(main, 'HELLO_ACK with a claim', (f) => f.type === 'HELLO_ACK' && typeof f.data.claim === 'string')
  has(main, 'CHAT_OPENED with last_seq', (f) => f.type === 'CHAT_OPENED' && f.data.last_seq !== undefined)
  has(main, 'MSG with its place in the log', (f) => f.type === 'MSG' && f.data.seq !== undefined)
  has(main, 'MSG from a flat user', (f) => f.type === 'MSG' && f.data.from === z.user_id)
  has(main, 'a stored ack', (f) => f.type === 'MSG_ACK' && f.data.status === 'stored' && typeof f.data.content === 'string')
  has(main, 'a delivered ack with its place', (f) => f.type === 'MSG_ACK' && f.data.status === 'delivered' && f.data.seq !== undefined)
  has(main, 'a received ack', (f) => f.type === 'MSG_ACK' && f.data.status === 'received')
  has(main, 'CHATS with a chat', (f) => f.type === 'CHATS' && f.data.chats.length > 0)
  has(main, 'PONG', (f) => f.type === 'PONG')
  has(flat, 'PRESENCE listing an enveloped user', (f) => f.type === 'PRESENCE' && f.users.some((u: Frame) => u.user_id === eve.user_id))
  has(flat, 'MSG from an enveloped user', (f) => f.type === 'MSG' && f.sender_id === eve.user_id && f.message_id === 'e-1')
  has(flat, 'MSG_ACK delivered', (f) => f.type === 'MSG_ACK' && f.status === 'delivered')
  t.notOk(flat.some((f) => f?.type === 'MSG_ACK' && f.status === 'received'), 'no received ack on a flat connection: a receipt is a no-op for a flat sender')
  has(flat, 'TYPING from an enveloped user', (f) => f.type === 'TYPING' && f.user_id === eve.user_id)
  has(flat, 'an ERROR without details', (f) => f.type === 'ERROR' && f.details === null)
  has(flat, 'an ERROR about a MSG', (f) => f.type === 'ERROR' && typeof f.message_id === 'string')
  const codes = (frames: Frame[], code: (f: Frame) => string) => [...new Set(frames.filter((f) => f?.type === 'ERROR').map(code))].sort()
  t.same(codes(main, (f) => f.data.code), ['CHAT_NOT_OPENED', 'RATE_LIMITED', 'UNAUTHORIZED', 'USER_NOT_FOUND', 'VALIDATION'], 'main: ERROR codes')
  t.same(codes(flat, (f) => f.error_code), ['CHAT_NOT_OPENED', 'RATE_LIMITED', 'USER_NOT_FOUND', 'VALIDATION'], 'main_flat: ERROR codes')
  t.ok(sent.some((f) => f.frame === 'plain text') && sent.some((f) => f.frame === 'hello'), 'verbatim text on either socket')
})

t.test('the document does not accept what the server never sends on /ws', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const accepts = validator(await fetchDoc(s.http))
  const U = randomUUID()
  for (const frame of [
    { type: 'HELLO_ACK', user_id: U, status: 'connected' },
    { type: 'HELLO_ACK', user_id: U, status: 'connected', message: 'Connected successfully', data: {} },
    { type: 'PRESENCE', users: [{ user_id: U, display_name: 'A', online: true }], action: 'connect' },
    { type: 'MSG', chat_id: 'c', message_id: 'm', content: 'x', sender_id: U, timestamp: 'now' },
    { type: 'MSG_ACK', message_id: 'm', status: 'stored', timestamp: 'now' },
    { type: 'TYPING', user_id: U, is_typing: true },
    { type: 'PONG', data: {} },
    { type: 'ERROR', code: 'VALIDATION', message: 'x', details: null },
    { type: 'ERROR', error_code: 'PANIC', message: 'x', details: null },
    { type: 'PING' },
    { type: 'HELLO_ACK', data: { user_id: U, status: 'connected', message: 'Connected successfully' } },
    { type: 'MSG', data: { from: U, to: U, content: 'x', message_id: 'm', timestamp: 'now', sender_name: 'A' } }
  ]) {
    t.same([...accepts('main', frame), ...accepts('main_flat', frame)], [], `refused: ${JSON.stringify(frame)}`)
  }
})
