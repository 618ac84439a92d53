// The FastChat app's flat dialect (SPEC section 10) over real sockets: the conformance checklist
// of FASTCHAT-APP-DIALECT.md with tabs that behave as the app's frontend does (helpers/flat-client.ts),
// and flat tabs chatting with enveloped users. Every suite takes a Start, so the same tests run
// in one process and across two instances over Redis (tabs and users alternate between them).
import type { Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { FlatServerMessages } from '../../src/protocol/fastchat-flat.ts'
import { collect, deploy, ISO, join, next, presenceWhere, sleep, type Deployment, type Frame, type Start } from '../helpers/fastchat.ts'
import { FlatTab, type FlatFrame } from '../helpers/flat-client.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const CHAT_ID = /^chat_[0-9a-f]{32}$/
const checkers = Object.fromEntries(Object.entries(FlatServerMessages).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]))

/** Every frame a flat tab got is a flat frame of the dialect, and none is enveloped (the greeting aside). */
function assertAllFlat(t: Test, tab: FlatTab): void {
  const bad = tab.frames.filter((f) => f.type !== 'WELCOME' && !(checkers[f.type]?.Check(f) ?? false))
  t.same(bad, [], `${tab.display_name}: every frame is a flat frame of the dialect`)
}

function tab(dep: Deployment, display_name: string, opts: { user_id?: string; pingMs?: number } = {}): Promise<FlatTab> {
  return FlatTab.open({ connect: () => dep.connect('/ws'), display_name, ...opts })
}

/** Tabs named like the app names them, closed when the test ends. */
async function tabs<N extends string[]>(t: Test, dep: Deployment, ...names: N): Promise<{ [K in keyof N]: FlatTab }> {
  const out: FlatTab[] = []
  for (const name of names) {
    const x = await tab(dep, name)
    t.teardown(() => x.close())
    await x.until(() => x.connected, 'HELLO_ACK')
    out.push(x)
  }
  return out as { [K in keyof N]: FlatTab }
}

/** `a` opens a chat with `b`; resolves when both selected it. */
async function chat(a: FlatTab, b: FlatTab): Promise<string> {
  a.openChat(b)
  await a.until(() => a.selected?.user_id === b.user_id, 'CHAT_OPENED')
  await b.until(() => b.selected?.user_id === a.user_id, 'CHAT_OPENED')
  return a.selected!.chat_id
}

export function flatSuite(t: Test, start: Start): void {
  t.test('HELLO: a flat HELLO_ACK, then the full list as a flat PRESENCE; no ERROR', async (t) => {
    const dep = await deploy(t, start)
    const [a] = await tabs(t, dep, 'MerryZebra445')
    t.same(a.sent[0], { type: 'HELLO', display_name: 'MerryZebra445', user_id: a.user_id, session_id: a.session_id }, 'the app\'s first frame')
    const ack = await a.next('HELLO_ACK', 0)
    t.same(ack, { type: 'HELLO_ACK', user_id: a.user_id, status: 'connected', message: 'Connected successfully' })
    const presence = await a.next('PRESENCE', 0)
    t.same(presence, { type: 'PRESENCE', users: [{ user_id: a.user_id, display_name: 'MerryZebra445', online: true }], action: 'update' })
    t.same(a.frames.filter((f) => f.type !== 'WELCOME').map((f) => f.type), ['HELLO_ACK', 'PRESENCE'], 'nothing else (the greeting, which the app ignores, may come first)')
    t.same(a.errors, [])
  })

  t.test('HELLO without user_id gets one, returned in HELLO_ACK; an invalid HELLO gets a flat ERROR and the socket stays open', async (t) => {
    const dep = await deploy(t, start)
    const raw = await dep.connect('/ws')
    t.teardown(() => raw.close())
    await raw.receiveJson() // WELCOME
    raw.send({ type: 'HELLO', display_name: 'ab', session_id: 's-1' })
    t.same(await raw.receiveJson(), {
      type: 'ERROR',
      error_code: 'VALIDATION',
      message: 'invalid HELLO: /display_name: must be 3–50 characters after removing HTML (got 2)',
      details: { errors: [{ path: '/display_name', message: 'must be 3–50 characters after removing HTML (got 2)' }] }
    }, 'paths name the flat fields')
    raw.send({ type: 'HELLO', display_name: 'QuietOtter12', session_id: 's-1', some_future_field: 1 })
    const ack = await raw.receiveJson()
    t.match(ack, { type: 'HELLO_ACK', status: 'connected', message: 'Connected successfully' })
    t.match(ack.user_id, UUID, 'a generated uuid v4')
    t.same(Object.keys(ack), ['type', 'user_id', 'status', 'message'])
    const presence = await raw.receiveJson()
    t.same(presence.users, [{ user_id: ack.user_id, display_name: 'QuietOtter12', online: true }])
    raw.send({ type: 'HELLO', display_name: 'QuietOtter12' })
    t.same(await raw.receiveJson(), { type: 'ERROR', error_code: 'VALIDATION', message: 'already identified', details: null }, 'a repeated HELLO: flat, and harmless')
    t.ok(raw.isOpen)
  })

  t.test('join and leave: presence both ways, and a closed tab leaves the other\'s list', async (t) => {
    const dep = await deploy(t, start)
    const [a, b] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695')
    await a.until(() => a.online.has(b.user_id), 'B in A\'s list')
    await b.until(() => b.online.has(a.user_id), 'A in B\'s list')
    t.same([...b.online.values()], [{ user_id: a.user_id, display_name: 'MerryZebra445' }])
    const last = b.frames.filter((f) => f.type === 'PRESENCE').at(-1)
    t.same(last, {
      type: 'PRESENCE',
      users: [{ user_id: a.user_id, display_name: 'MerryZebra445', online: true }, { user_id: b.user_id, display_name: 'MerryGiraffe695', online: true }],
      action: 'update'
    }, 'the full list, receiver included (the app filters itself out)')
    const closedAt = Date.now()
    await b.close()
    await a.until(() => !a.online.has(b.user_id), 'B gone from A\'s list', 3000)
    t.ok(Date.now() - closedAt < 1500, 'within about a second')
    assertAllFlat(t, a)
  })

  t.test('OPEN_CHAT: both tabs get a flat CHAT_OPENED with one chat_id, each naming the other', async (t) => {
    const dep = await deploy(t, start)
    const [a, b] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695')
    const fromA = a.frames.length
    const fromB = b.frames.length
    a.openChat(b)
    const [toA, toB] = await Promise.all([a.next('CHAT_OPENED', fromA), b.next('CHAT_OPENED', fromB)])
    const participants = [a.user_id, b.user_id].sort()
    t.match(toA.chat_id, CHAT_ID)
    t.same(toA, { type: 'CHAT_OPENED', chat_id: toA.chat_id, participants, target_user_id: b.user_id, target_display_name: 'MerryGiraffe695' })
    t.same(toB, { type: 'CHAT_OPENED', chat_id: toA.chat_id, participants, target_user_id: a.user_id, target_display_name: 'MerryZebra445' })
    t.same(a.selected, { user_id: b.user_id, display_name: 'MerryGiraffe695', chat_id: toA.chat_id })
    t.same(b.selected, { user_id: a.user_id, display_name: 'MerryZebra445', chat_id: toA.chat_id })
  })

  t.test('ordering: OPEN_CHAT, MSG and TYPING queued before HELLO_ACK go out in one tick and are handled in order', async (t) => {
    const dep = await deploy(t, start)
    const [b] = await tabs(t, dep, 'MerryGiraffe695')
    const a = await tab(dep, 'MerryZebra445')
    t.teardown(() => a.close())
    // Queued: the HELLO_ACK has not been read yet.
    t.notOk(a.connected)
    a.openChat(b)
    a.say('first')
    a.setTyping(true)
    a.say('second')
    await b.until(() => b.messages.length === 2, 'both MSGs')
    t.same(b.messages.map((m) => m.content), ['first', 'second'])
    t.same(a.sent.slice(1).filter((f) => f.type !== 'PING').map((f) => f.type), ['OPEN_CHAT', 'MSG', 'TYPING', 'MSG'])
    // B's frames from A: the MSG, the TYPING between them, the MSG, and the `false` that follows
    // a MSG from someone shown typing (the app clears an indicator only on a false).
    const fromA = b.frames.filter((f) => (f.type === 'MSG' && f.sender_id === a.user_id) || (f.type === 'TYPING' && f.user_id === a.user_id))
    t.same(fromA.map((f) => f.type === 'MSG' ? f.content : f.is_typing), ['first', true, 'second', false], 'TYPING reached B between them')
    t.same(a.errors, [])
  })

  t.test('MSG: B gets the exact flat MSG, A a flat delivered ack and no copy; B\'s receipt draws no ERROR', async (t) => {
    const dep = await deploy(t, start)
    const [a, b] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695')
    const chatId = await chat(a, b)
    const fromA = a.frames.length
    a.say('hello bob')
    const got = await b.next('MSG', 0)
    t.same(Object.keys(got), ['type', 'chat_id', 'message_id', 'content', 'sender_id', 'sender_name', 'timestamp'])
    t.same(got, { type: 'MSG', chat_id: chatId, message_id: got.message_id, content: 'hello bob', sender_id: a.user_id, sender_name: 'MerryZebra445', timestamp: got.timestamp })
    t.match(got.message_id, UUID, 'a server uuid: the app sends none')
    t.match(got.timestamp, ISO)
    const ack = await a.next('MSG_ACK', fromA)
    t.same(ack, { type: 'MSG_ACK', message_id: got.message_id, status: 'delivered', timestamp: ack.timestamp })
    t.match(ack.timestamp, ISO)
    // B's automatic receipt is a no-op for A, a flat sender: the app shows every status but
    // `delivered` as pending, so a `received` could only undo the tick.
    await sleep(200)
    t.same(a.frames.filter((f) => f.type === 'MSG_ACK'), [ack], 'no `received` for a flat sender')
    t.same(a.frames.filter((f) => f.type === 'MSG'), [], 'A gets no copy of its own message')
    t.same([...a.errors, ...b.errors], [], 'no ERROR either side')
    assertAllFlat(t, a)
    assertAllFlat(t, b)
  })

  t.test('MSG by chat_id or to, with the same rules as the envelope: sanitized, deduplicated by message_id, limited', async (t) => {
    const dep = await deploy(t, start)
    const [a, b, c] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695', 'SleepyPanda300')
    const ab = await chat(a, b)
    await chat(a, c) // A's current partner is now C
    a.sendRaw({ type: 'MSG', content: 'to the chat I name', chat_id: ab })
    a.sendRaw({ type: 'MSG', content: 'to whom I name', to: b.user_id })
    a.sendRaw({ type: 'MSG', content: '<b>bold?</b>' }) // the current partner
    await b.until(() => b.messages.length === 2, 'two MSGs for B')
    await c.until(() => c.messages.length === 1, 'one MSG for C')
    t.same(b.messages.map((m) => m.content), ['to the chat I name', 'to whom I name'])
    t.same(c.messages.map((m) => m.content), ['bold?'], 'HTML stripped as for everyone')

    const from = a.frames.length
    a.sendRaw({ type: 'MSG', content: 'once', message_id: 'm-1' })
    a.sendRaw({ type: 'MSG', content: 'once', message_id: 'm-1' })
    const acks = () => a.frames.slice(from).filter((f) => f.type === 'MSG_ACK' && f.message_id === 'm-1' && f.status === 'delivered')
    await a.until(() => acks().length >= 2, 'two acks')
    t.equal(acks().length, 2, 'each copy acknowledged as delivered')
    await sleep(200)
    t.equal(c.messages.filter((m) => m.message_id === 'm-1').length, 1, 'a retry with the same id is acknowledged, not delivered twice')

    const limitFrom = a.frames.length
    for (let i = 0; i < 60; i++) a.sendRaw({ type: 'MSG', content: `n${i}` })
    await a.until(() => a.frames.slice(limitFrom).some((f) => f.type === 'ERROR'), 'RATE_LIMITED')
    const limited = a.frames.slice(limitFrom).find((f) => f.type === 'ERROR')
    t.match(limited, { type: 'ERROR', error_code: 'RATE_LIMITED', message: 'too many messages', message_id: UUID })
    t.type(limited.details.retry_after_ms, 'number')
    t.same(a.errors, [], 'the app hides RATE_LIMITED')
  })

  t.test('errors: flat, with error_code and message, and the socket stays open', async (t) => {
    const dep = await deploy(t, start)
    const [a] = await tabs(t, dep, 'MerryZebra445')
    const expect = async (frame: FlatFrame, error: FlatFrame, what: string) => {
      const from = a.frames.length
      a.sendRaw(frame)
      t.same(await a.next('ERROR', from), error, what)
    }
    await expect({ type: 'MSG', content: 'nobody to talk to' }, { type: 'ERROR', error_code: 'CHAT_NOT_OPENED', message: 'open a chat first', details: null }, 'MSG with no chat: refused, never paired with a stranger')
    const ghost = randomUUID()
    await expect({ type: 'OPEN_CHAT', target_user_id: ghost, target_display_name: 'Ghost' },
      { type: 'ERROR', error_code: 'USER_NOT_FOUND', message: 'user is not online', details: { target_user_id: ghost } }, 'OPEN_CHAT to an offline user')
    const [b] = await tabs(t, dep, 'MerryGiraffe695')
    await chat(a, b)
    const emptyFrom = a.frames.length
    a.sendRaw({ type: 'MSG', content: '   ' })
    const empty = await a.next('ERROR', emptyFrom)
    const rule = 'must be 1–1000 characters after removing HTML (got 0)'
    t.same(empty, {
      type: 'ERROR', error_code: 'VALIDATION', message: `invalid MSG: /content: ${rule}`, message_id: empty.message_id,
      details: { message_id: empty.message_id, errors: [{ path: '/content', message: rule }] }
    }, 'empty content, with the server message_id it was given')
    t.match(empty.message_id, UUID)
    await expect({ type: 'MSG_ACK', status: 'received' }, {
      type: 'ERROR', error_code: 'VALIDATION', message: 'invalid MSG_ACK: /message_id: Expected required property',
      details: { errors: [{ path: '/message_id', message: 'Expected required property' }] }
    }, 'a receipt without message_id')
    const from = a.frames.length
    a.sendRaw({ type: 'TYPING', is_typing: true, to: a.user_id })
    t.match(await a.next('ERROR', from), { error_code: 'VALIDATION', message: 'invalid TYPING: /to: cannot type to yourself' })
    const binaryFrom = a.frames.length
    a.socket!.send(Buffer.from([0xde, 0xad]), { binary: true }) // the app sends none; another client might
    t.same(await a.next('ERROR', binaryFrom), { type: 'ERROR', error_code: 'VALIDATION', message: 'binary frames are not supported', details: null }, 'a binary frame: flat too')
    t.ok(a.socket?.readyState === 1, 'open after every error')
    assertAllFlat(t, a)
  })

  t.test('hostile flat frames: a flat ERROR or nothing, the socket open, other users untouched', async (t) => {
    const dep = await deploy(t, start)
    const [a, b] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695')
    const chatId = await chat(a, b)
    const hostile: unknown[] = [
      { type: 'MSG', content: 5 },
      { type: 'MSG', content: 'x', to: 'not-a-uuid' },
      { type: 'MSG', content: 'x', to: a.user_id },
      { type: 'MSG', content: 'x', chat_id: { $gt: '' } },
      { type: 'MSG', content: 'x', chat_id: 'chat_unknown' },
      { type: 'MSG', content: 'x'.repeat(1001) },
      { type: 'MSG', content: 'x', message_id: '' },
      JSON.parse('{"type":"MSG","content":"proto","__proto__":{"to":"00000000-0000-4000-8000-000000000000"}}'),
      { type: 'TYPING', is_typing: 'yes' },
      { type: 'OPEN_CHAT' },
      { type: 'OPEN_CHAT', target_user_id: ['x'] },
      { type: 'MSG_ACK', message_id: 'never-sent' },
      { type: 'HISTORY', chat_id: chatId },
      { type: 'HELLO', display_name: 'Again', data: {} },
      { type: 'PING', data: 'odd' },
      { type: 'PONG', extra: true },
      { type: 'UNKNOWN_TYPE' }
    ]
    for (const f of hostile) a.sendRaw(f)
    a.say('after all that')
    await b.until(() => b.messages.some((m) => m.content === 'after all that'), 'the next good MSG')
    t.ok(a.socket?.readyState === 1, 'open')
    const errors = a.frames.filter((f) => f.type === 'ERROR')
    t.ok(errors.length >= 10, `flat ERRORs (${errors.length})`)
    t.equal(errors.filter((e) => e.error_code === 'CHAT_NOT_OPENED' && e.message === 'open a chat first').length, 2, 'a chat_id the tab was not told of goes nowhere')
    t.ok(errors.every((e) => typeof e.error_code === 'string' && typeof e.message === 'string'), 'each with error_code and message')
    t.same(b.messages.map((m) => m.content), ['proto', 'after all that'], 'the prototype key routes nowhere: the MSG went to the current partner')
    assertAllFlat(t, b)
  })

  t.test('TYPING: changes only; a keystroke burst yields at most a flat RATE_LIMITED, and the final false arrives', async (t) => {
    const dep = await deploy(t, start)
    const [a, b] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695')
    await chat(a, b)
    const fromB = b.frames.length
    for (let sentence = 0; sentence < 12; sentence++) {
      for (let key = 0; key < 15; key++) a.setTyping(true) // the app: true on every keystroke
      a.setTyping(false)
    }
    await b.until(() => b.frames.slice(fromB).filter((f) => f.type === 'TYPING').length >= 2 && b.typing.get(a.user_id) === false, 'TYPING')
    await sleep(300)
    const typing = b.frames.slice(fromB).filter((f) => f.type === 'TYPING')
    t.same(typing[0], { type: 'TYPING', user_id: a.user_id, display_name: 'MerryZebra445', is_typing: true })
    t.same(typing.at(-1), { type: 'TYPING', user_id: a.user_id, display_name: 'MerryZebra445', is_typing: false }, 'the final false arrives')
    for (let i = 1; i < typing.length; i++) t.not(typing[i].is_typing, typing[i - 1].is_typing, 'only changes are relayed')
    t.ok(typing.length <= 20, `at most the limit of trues and their falses (${typing.length})`)
    const errors = a.frames.filter((f) => f.type === 'ERROR')
    t.ok(errors.every((e) => e.error_code === 'RATE_LIMITED'), 'only RATE_LIMITED, which the app hides')
    t.same(a.errors, [])

    // With no chat, a TYPING goes nowhere and says nothing (the app sends one per keystroke).
    const [c] = await tabs(t, dep, 'SleepyPanda300')
    c.setTyping(true)
    t.same((await sleep(200), c.frames.filter((f) => f.type === 'ERROR')), [])
  })

  t.test('heartbeat: {"type":"PING"} gets {"type":"PONG"}; the tab\'s PONG is swallowed', async (t) => {
    const dep = await deploy(t, start)
    const [a] = await tabs(t, dep, 'MerryZebra445')
    const from = a.frames.length
    a.sendRaw({ type: 'PING' })
    t.same(await a.next('PONG', from), { type: 'PONG' })
    const quiet = a.frames.length
    a.sendRaw({ type: 'PONG' })
    await sleep(200)
    t.same(a.frames.slice(quiet), [], 'no echo, no error')
  })

  t.test('reconnect: after a close other than 1000 the tab is back with its user_id and its chat; its next MSG reaches the partner', async (t) => {
    const dep = await deploy(t, start)
    const [a, b] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695')
    const chatId = await chat(a, b)
    const from = a.frames.length
    a.socket!.terminate() // the network drops: the tab reconnects after 1 s
    await a.until(() => a.reconnects === 1 && a.connected, 'the reconnect', 6000)
    const restored = await a.next('CHAT_OPENED', from)
    t.same(restored, { type: 'CHAT_OPENED', chat_id: chatId, participants: [a.user_id, b.user_id].sort(), target_user_id: b.user_id, target_display_name: 'MerryGiraffe695' }, 'the chat comes back, naming the partner')
    a.say('I am back')
    await b.until(() => b.messages.some((m) => m.content === 'I am back'), 'the MSG after the reconnect')
    await b.until(() => b.online.has(a.user_id), 'A online for B')
    const lists = b.frames.filter((f) => f.type === 'PRESENCE')
    t.equal(lists.at(-1).users.filter((u: Frame) => u.user_id === a.user_id).length, 1, 'A once in B\'s list')
    t.equal(a.opens, 2)
  })

  t.test('a user\'s second flat tab never gets a copy of its own MSG', async (t) => {
    const dep = await deploy(t, start)
    const [a1, b] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695')
    const a2 = await tab(dep, 'MerryZebra445', { user_id: a1.user_id })
    t.teardown(() => a2.close())
    await a2.until(() => a2.connected, 'HELLO_ACK')
    await chat(a1, b)
    a1.say('from tab one')
    await b.until(() => b.messages.length === 1, 'the MSG')
    await sleep(200)
    t.same(a2.frames.filter((f) => f.type === 'MSG'), [])
  })

  t.test('two tabs of one user showing two chats: each tab\'s MSG goes to the chat its screen shows', async (t) => {
    const dep = await deploy(t, start)
    const [a1, b, c] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695', 'SleepyPanda300')
    const a2 = await tab(dep, 'MerryZebra445', { user_id: a1.user_id }) // the app's "duplicate tab"
    t.teardown(() => a2.close())
    await a2.until(() => a2.connected, 'HELLO_ACK')
    await chat(a1, b)
    await a2.until(() => a2.selected?.user_id === b.user_id, 'the chat on the second tab too')
    a2.openChat(c)
    await a2.until(() => a2.selected?.user_id === c.user_id, 'CHAT_OPENED with C')
    await a1.until(() => a1.selected?.user_id === c.user_id, 'both tabs follow')
    a1.openChat(b) // open already: only the tab that asked is told, so only it shows B again
    await a1.until(() => a1.selected?.user_id === b.user_id, 'tab one back on B')
    await sleep(200)
    t.equal(a2.selected?.user_id, c.user_id, 'tab two still shows C')
    a2.say('for C only')
    a1.say('for B only')
    await c.until(() => c.messages.length === 1, 'C\'s message')
    await b.until(() => b.messages.length === 1, 'B\'s message')
    await sleep(200)
    t.same(c.messages.map((m) => m.content), ['for C only'], 'tab two\'s message reached the chat it shows')
    t.same(b.messages.map((m) => m.content), ['for B only'], 'and tab one\'s the one it shows')
  })

  t.test('TYPING: the final false reaches a partner the tab has left since it started typing', async (t) => {
    const dep = await deploy(t, start)
    const [a, b, c] = await tabs(t, dep, 'MerryZebra445', 'MerryGiraffe695', 'SleepyPanda300')
    await chat(a, b)
    a.setTyping(true)
    await b.until(() => b.typing.get(a.user_id) === true, 'B sees A typing')
    a.openChat(c) // A clicks another user within the app's 1.5 s "stopped" timer
    await a.until(() => a.selected?.user_id === c.user_id, 'CHAT_OPENED with C')
    a.setTyping(false)
    await b.until(() => b.typing.get(a.user_id) === false, 'B sees A stop')
    await sleep(200)
    t.same(c.frames.filter((f) => f.type === 'TYPING'), [], 'C was never told A was typing, nor that A stopped')
    t.same(a.errors, [])
  })
}

export function mixedSuite(t: Test, start: Start): void {
  t.test('a flat tab and an enveloped user: presence, chat, messages both ways in order, receipts, typing, leave', async (t) => {
    const dep = await deploy(t, start)
    const [a] = await tabs(t, dep, 'MerryZebra445')
    const e = await join(dep, 'Enveloped Eve')
    await a.until(() => a.online.has(e.user_id), 'Eve in the flat list')
    t.ok(e.presence.some((u) => u.user_id === a.user_id), 'the flat tab in Eve\'s list')

    // Eve opens the chat: the tab selects it, and its MSGs now go to Eve.
    e.client.send({ type: 'OPEN_CHAT', data: { target_user_id: a.user_id, target_display_name: 'MerryZebra445' } })
    const opened = await next(e.client, 'CHAT_OPENED')
    t.same(opened.data.target_user_id, a.user_id)
    await a.until(() => a.selected?.user_id === e.user_id, 'the tab selects Eve')
    t.same(a.selected, { user_id: e.user_id, display_name: 'Enveloped Eve', chat_id: opened.data.chat_id })

    for (let i = 0; i < 20; i++) a.say(`flat ${i}`)
    const got: Frame[] = []
    while (got.length < 20) got.push(await next(e.client, 'MSG'))
    t.same(got.map((m) => m.data.content), Array.from({ length: 20 }, (_, i) => `flat ${i}`), 'in order')
    t.same(got[0], { type: 'MSG', data: { from: a.user_id, to: e.user_id, content: 'flat 0', message_id: got[0].data.message_id, timestamp: got[0].data.timestamp } }, 'enveloped, exactly as ever')
    // Eve's receipt is a no-op for the flat sender (no `received`, no ERROR for Eve).
    e.client.send({ type: 'MSG_ACK', data: { message_id: got[0].data.message_id } })

    for (let i = 0; i < 20; i++) e.client.send({ type: 'MSG', data: { to: a.user_id, content: `env ${i}`, message_id: `e-${i}` } })
    await a.until(() => a.messages.length === 20, '20 MSGs for the tab')
    t.same(a.messages.map((m) => [m.content, m.message_id, m.sender_id, m.sender_name]), Array.from({ length: 20 }, (_, i) => [`env ${i}`, `e-${i}`, e.user_id, 'Enveloped Eve']))
    // The tab's automatic receipts reach Eve as `received`.
    const receipts: Frame[] = []
    while (receipts.length < 20) {
      const ack = await next(e.client, 'MSG_ACK')
      if (ack.data.status === 'received') receipts.push(ack)
    }
    t.same(receipts.map((r) => r.data.message_id), Array.from({ length: 20 }, (_, i) => `e-${i}`))

    a.setTyping(true)
    t.same(await next(e.client, 'TYPING'), { type: 'TYPING', data: { user_id: a.user_id, is_typing: true } })
    a.setTyping(false)
    t.same(await next(e.client, 'TYPING'), { type: 'TYPING', data: { user_id: a.user_id, is_typing: false } })
    e.client.send({ type: 'TYPING', data: { is_typing: true, to: a.user_id } })
    await a.until(() => a.typing.get(e.user_id) === true, 'Eve typing')
    t.same(a.frames.filter((f) => f.type === 'TYPING').at(-1), { type: 'TYPING', user_id: e.user_id, display_name: 'Enveloped Eve', is_typing: true })
    // Eve's client (our page among them) sends no `false` with her MSG: the app, which clears an
    // indicator only on a `false`, gets one right after the MSG.
    e.client.send({ type: 'MSG', data: { to: a.user_id, content: 'sent while typing', message_id: 'e-typed' } })
    await a.until(() => a.typing.get(e.user_id) === false, 'Eve no longer shown typing')
    const msgAt = a.frames.findIndex((f) => f.type === 'MSG' && f.message_id === 'e-typed')
    const stopAt = a.frames.findLastIndex((f) => f.type === 'TYPING')
    t.ok(msgAt >= 0 && stopAt === msgAt + 1, 'the MSG, then the false')
    t.same(a.frames[stopAt], { type: 'TYPING', user_id: e.user_id, display_name: 'Enveloped Eve', is_typing: false })
    e.client.send({ type: 'MSG', data: { to: a.user_id, content: 'not typing now', message_id: 'e-plain' } })
    await a.until(() => a.messages.some((m) => m.message_id === 'e-plain'), 'the next MSG')
    t.equal(a.frames.filter((f) => f.type === 'TYPING').length, stopAt === -1 ? 0 : a.frames.slice(0, stopAt + 1).filter((f) => f.type === 'TYPING').length, 'no false for a MSG when nobody is shown typing')

    await a.close()
    await presenceWhere(e.client, (users) => !users.some((u) => u.user_id === a.user_id))
    t.same(a.errors, [])
    assertAllFlat(t, a)
    const errors = (await collect(e.client, 100)).filter((f: Frame) => f.type === 'ERROR')
    t.same(errors, [], 'no ERROR for Eve')
  })

  t.test('PING without data is answered with PONG in the envelope too', async (t) => {
    const dep = await deploy(t, start)
    const stranger = await dep.connect('/ws')
    t.teardown(() => stranger.close())
    await stranger.receiveJson() // WELCOME
    stranger.send({ type: 'PING' })
    const before = await stranger.receiveJson()
    t.same(Object.keys(before.data), ['timestamp'])
    t.equal(before.type, 'PONG', 'before HELLO')
    const e = await join(dep, 'Enveloped Eve')
    e.client.send({ type: 'PING' })
    const pong = await next(e.client, 'PONG')
    t.match(pong, { type: 'PONG', data: { timestamp: ISO } }, 'after HELLO')
  })
}
