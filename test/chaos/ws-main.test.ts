// Chaos: hostile frames on /ws (SPEC sections 2 and 3), before HELLO (the greeting/echo dialect
// and identity) and after it (FastChat with a chat open to a partner). Text that is not a JSON
// object is echoed verbatim; FastChat types get exact ERRORs that never close the connection;
// names and content reach others with markup, controls, bidi overrides and lone surrogates gone
// (names lose invisible characters too).
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { greeted, mask, runSurface, type Case, type Frame, type Surface } from './harness.ts'
import { CHARS, DEEP, deepArray, deepObject, LIMIT, manyItems, sized, transportRows } from './hostile.ts'
import { join, openChat, collect, type ChatUser } from '../helpers/fastchat.ts'
import { stringifyJson } from '../../src/lib/json.ts'

const ID = '0f8fad5b-d9cb-469f-a165-70867728950e' // well-formed UUID v4s: one for HELLOs,
const NOBODY = '7c9e6679-7425-40de-944b-e07fc1f90ae7' // one nobody uses,
const PARTNER = '3f1c2b9e-8a47-4d2b-9c1e-5b7a2d4e6f80' // and the chat partner of every victim

const echoed = (data: unknown) => ({ type: 'echo', data, timestamp: '<number>', client_id: '<string>', server_processing_ms: '<number>' })
const error = (code: string, message: string, details: Record<string, unknown> = {}) => ({ type: 'ERROR', data: { code, message, details } })
/** A VALIDATION ERROR from the schema: `invalid <type>: <path>: <message>; …` and each field in details.errors. */
const invalid = (type: string, ...errors: [string, string][]) =>
  error('VALIDATION', `invalid ${type}: ${errors.map(([p, m]) => `${p}: ${m}`).join('; ')}`, { errors: errors.map(([path, message]) => ({ path, message })) })
const HELLO_FIRST = error('UNAUTHORIZED', 'send HELLO first')
const PONG = { type: 'PONG', data: { timestamp: '<iso>' } }
const LOWER_PONG = { type: 'pong', timestamp: '<number>', client_id: '<string>' }
const UUID = 'must be a UUID v4'

/** The one echo envelope for a frame too big or deep to spell out: its data, as JSON, is the frame. */
const echoesText = (text: string) => ({
  count: 1,
  assert([reply]: Frame[], t: Test) {
    t.equal(reply.type, 'echo')
    t.equal(stringifyJson(reply.data), text, `the object came back unchanged (${text.length} bytes)`)
  }
})

function normalize(m: Frame): Frame {
  if (m?.type === 'echo' || m?.type === 'pong') return mask(m, { timestamp: 'number', client_id: 'string', server_processing_ms: 'number' })
  if (m?.type === 'PONG' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(m.data?.timestamp)) return PONG
  return m
}

const probe = (n: number) => ({ frame: { type: 'probe', n }, is: (m: Frame) => m?.type === 'echo' && m.data?.n === n })

// ---------------------------------------------------------------- before HELLO

/** A HELLO that succeeds: HELLO_ACK, then the PRESENCE of that user alone, named `shown`. */
function helloOk(name: string, send: string, user_id: string, shown: string): Case<undefined> {
  return {
    name,
    send,
    expect: { replies: [{ type: 'HELLO_ACK', data: { user_id, status: 'connected' } }, { type: 'PRESENCE', data: { users: [{ user_id, display_name: shown, online: true }] } }] },
    changesState: true
  }
}

/** HELLO for a fresh user with `display_name`, which others see as `shown`. */
function helloAs(name: string, display_name: string, shown: string): Case<undefined> {
  const user_id = randomUUID()
  return helloOk(name, stringifyJson({ type: 'HELLO', data: { user_id, display_name } }), user_id, shown)
}

const hello = (data: unknown) => stringifyJson({ type: 'HELLO', data })
const badName = (got: number) => invalid('HELLO', ['/data/display_name', `must be 3–50 characters after removing HTML (got ${got})`])

const beforeHello: Case<undefined>[] = [
  { name: 'malformed JSON is echoed verbatim', send: '{"type":"HELLO","data":{', expect: { verbatim: '{"type":"HELLO","data":{' } },
  { name: 'a truncated HELLO is echoed verbatim', send: hello({ user_id: ID, display_name: 'Alice' }).slice(0, 30), expect: { verbatim: hello({ user_id: ID, display_name: 'Alice' }).slice(0, 30) } },
  { name: 'an extra closing brace is echoed verbatim', send: '{"type":"PING","data":{}}}', expect: { verbatim: '{"type":"PING","data":{}}}' } },
  { name: 'single quotes are echoed verbatim', send: "{'type':'PING'}", expect: { verbatim: "{'type':'PING'}" } },
  { name: 'an empty frame is echoed verbatim', send: '', expect: { verbatim: '' } },
  { name: 'plain text is echoed verbatim', send: 'ping', expect: { verbatim: 'ping' } },
  { name: 'JSON that is not an object: an array of HELLO', send: '[{"type":"HELLO"}]', expect: { verbatim: '[{"type":"HELLO"}]' } },
  { name: 'JSON that is not an object: a string', send: '"HELLO"', expect: { verbatim: '"HELLO"' } },
  { name: 'JSON that is not an object: a number', send: '42', expect: { verbatim: '42' } },
  { name: 'JSON that is not an object: null', send: 'null', expect: { verbatim: 'null' } },
  { name: `arrays nested ${DEEP} deep are echoed verbatim`, send: deepArray(DEEP), expect: { verbatim: deepArray(DEEP) } },
  { name: 'objects nested 8000 deep come back in the echo envelope', send: `{"type":"deep","d":${deepObject(8000)}}`, expect: echoesText(`{"type":"deep","d":${deepObject(8000)}}`) },
  { name: 'a string just under the frame limit', send: sized('{"type":"big","s":"%"}', LIMIT), expect: echoesText(sized('{"type":"big","s":"%"}', LIMIT)) },
  { name: 'leading whitespace before a ping', send: ' \n\t{"type":"ping"}', expect: { replies: [LOWER_PONG] } },
  { name: 'type a number', send: '{"type":5}', expect: { replies: [echoed({ type: 5 })] } },
  { name: 'type null', send: '{"type":null}', expect: { replies: [echoed({ type: null })] } },
  { name: 'type an array naming HELLO', send: '{"type":["HELLO"]}', expect: { replies: [echoed({ type: ['HELLO'] })] } },
  { name: 'a FastChat type in the wrong case', send: '{"type":"hello","data":{}}', expect: { replies: [echoed({ type: 'hello', data: {} })] } },
  ...['__proto__', 'constructor', 'toString', 'hasOwnProperty'].map((type): Case<undefined> => ({
    name: `${type} as a type is echoed`, send: `{"type":"${type}"}`, expect: { replies: [echoed({ type })] }
  })),
  { name: 'MSG before HELLO, even malformed', send: '{"type":"MSG","data":5}', expect: { replies: [HELLO_FIRST] } },
  { name: 'OPEN_CHAT before HELLO', send: `{"type":"OPEN_CHAT","data":{"target_user_id":"${ID}"}}`, expect: { replies: [HELLO_FIRST] } },
  { name: 'TYPING before HELLO without data', send: '{"type":"TYPING"}', expect: { replies: [HELLO_FIRST] } },
  { name: 'MSG_ACK before HELLO', send: '{"type":"MSG_ACK","data":{"message_id":"__proto__"}}', expect: { replies: [HELLO_FIRST] } },
  { name: 'PING before HELLO is answered', send: '{"type":"PING","data":{}}', expect: { replies: [PONG] } },
  { name: 'PING without data is answered too (SPEC section 10)', send: '{"type":"PING"}', expect: { replies: [PONG] } },
  { name: 'HELLO: user_id a number', send: hello({ user_id: 5, display_name: 'Alice' }), expect: { replies: [invalid('HELLO', ['/data/user_id', UUID])] } },
  { name: 'HELLO: display_name a number', send: hello({ user_id: ID, display_name: 5 }), expect: { replies: [invalid('HELLO', ['/data/display_name', 'Expected string'])] } },
  { name: 'HELLO: capabilities a string', send: hello({ user_id: ID, display_name: 'Alice', capabilities: 'presence_delta' }), expect: { replies: [invalid('HELLO', ['/data/capabilities', 'Expected array'])] } },
  { name: 'HELLO: a capability a number', send: hello({ user_id: ID, display_name: 'Alice', capabilities: [5] }), expect: { replies: [invalid('HELLO', ['/data/capabilities/0', 'Expected string'])] } },
  { name: 'HELLO: token a number', send: hello({ user_id: ID, display_name: 'Alice', token: 5 }), expect: { replies: [invalid('HELLO', ['/data/token', 'Expected string'])] } },
  { name: 'HELLO: data a string', send: '{"type":"HELLO","data":"Alice"}', expect: { replies: [invalid('HELLO', ['/data', 'Expected object'])] } },
  { name: 'HELLO: data an array', send: '{"type":"HELLO","data":[]}', expect: { replies: [invalid('HELLO', ['/data', 'Expected object'])] } },
  { name: 'HELLO: data null', send: '{"type":"HELLO","data":null}', expect: { replies: [invalid('HELLO', ['/data', 'Expected object'])] } },
  { name: 'HELLO: every field wrong at once', send: hello({ user_id: [], display_name: {}, capabilities: {}, token: null }), expect: { replies: [invalid('HELLO', ['/data/user_id', UUID], ['/data/display_name', 'Expected string'], ['/data/capabilities', 'Expected array'], ['/data/token', 'Expected string'])] } },
  { name: 'HELLO: an unknown field', send: hello({ user_id: ID, display_name: 'Alice', admin: true }), expect: { replies: [invalid('HELLO', ['/data/admin', 'Unexpected property'])] } },
  { name: 'HELLO: an unknown top-level field', send: `{"type":"HELLO","data":{"user_id":"${ID}","display_name":"Alice"},"role":"admin"}`, expect: { replies: [invalid('HELLO', ['/role', 'Unexpected property'])] } },
  {
    name: 'HELLO: 16,000 capabilities just under the limit',
    send: manyItems(`{"type":"HELLO","data":{"user_id":"${ID}","display_name":"Alice","capabilities":[%]}}`, 16_000),
    expect: { replies: [invalid('HELLO', ['/data/capabilities', 'Expected array length to be less or equal to 16'])] }
  },
  {
    name: 'HELLO: 6,000 unknown fields get at most 20 errors (no amplification)',
    send: `{"type":"HELLO","data":{"user_id":"${ID}","display_name":"Alice",${Array.from({ length: 6000 }, (_, i) => `"k${i}":0`).join(',')}}}`,
    expect: {
      count: 1,
      assert([e]: Frame[], t: Test) {
        t.equal(e.data.details.errors.length, 20)
        t.ok(JSON.stringify(e).length < 2000, `the reply is ${JSON.stringify(e).length} bytes`)
      }
    }
  },
  ...['__proto__', 'constructor', 'prototype'].map((id): Case<undefined> => ({
    name: `HELLO: ${id} as user_id`, send: hello({ user_id: id, display_name: 'Alice' }), expect: { replies: [invalid('HELLO', ['/data/user_id', UUID])] }
  })),
  helloOk('HELLO: a __proto__ key in data is removed', `{"type":"HELLO","data":{"user_id":"${ID}","display_name":"Alice","__proto__":{"admin":true}}}`, ID, 'Alice'),
  helloAs('HELLO: __proto__ as a display name is just a name', '__proto__', '__proto__'),
  helloAs('HELLO: NUL and controls are removed from a name', `${CHARS.nul}Al${CHARS.controls}ice`, 'Al[31mice'),
  helloAs('HELLO: a lone surrogate becomes U+FFFD', `Al${CHARS.loneHigh}ice${CHARS.loneLow}`, 'Al\ufffdice\ufffd'),
  helloAs('HELLO: an RTL override cannot reorder a name', `Mallory${CHARS.rtlOverride}nimda`, 'Mallorynimda'),
  helloAs('HELLO: zero-width characters cannot disguise a name', `Ali${CHARS.zeroWidth}ce`, 'Alice'),
  helloAs('HELLO: tabs and line breaks in a name read as spaces', 'Ada\tLove\nlace', 'Ada Love lace'),
  helloAs('HELLO: emoji sequences keep their joiners', 'Fam 👨‍👩‍👧', 'Fam 👨‍👩‍👧'),
  helloAs('HELLO: markup is stripped from a name', '<b>Bob</b><script>alert(1)</script>', 'Bob'),
  helloAs('HELLO: nested markup is stripped from a name', '<<script>script>alert(1)<</script>/script>Eve', 'Eve'),
  helloAs('HELLO: an already-escaped name stays as typed', '&lt;script&gt;', '&lt;script&gt;'),
  { name: 'HELLO: a name of only invisible characters is empty', send: hello({ user_id: ID, display_name: `${CHARS.zeroWidth}${CHARS.nul}${CHARS.isolate}` }), expect: { replies: [badName(0)] } },
  { name: 'HELLO: a name of only markup is empty', send: hello({ user_id: ID, display_name: '<img src=x onerror=alert(1)>' }), expect: { replies: [badName(0)] } },
  { name: 'HELLO: a name of 60 KB of "<"', send: hello({ user_id: ID, display_name: '<'.repeat(60_000) }), expect: { replies: [badName(60_000)] } },
  { name: 'a binary frame gets ERROR VALIDATION', send: { binary: Buffer.from('{"type":"PING","data":{}}') }, expect: { replies: [error('VALIDATION', 'binary frames are not supported')] } },
  ...transportRows<undefined>({ frame: '{"type":"ping","note":"é"}', expect: { replies: [LOWER_PONG] } })
]

const plain: Surface = {
  name: '/ws before HELLO',
  open: greeted('/ws'),
  probe,
  normalize,
  // Only rows whose HELLO succeeds may add a user; the harness waits for each victim to leave.
  state: (app) => ({ online: app.app.presence.size }),
  quiet: (app) => app.app.presence.size === 0,
  cases: beforeHello
}

// ---------------------------------------------------------------- identified, with a chat open

interface Shared {
  partner: ChatUser
}

const msg = (data: unknown) => stringifyJson({ type: 'MSG', data })
const ack = (message_id: string) => ({ type: 'MSG_ACK', data: { message_id, status: 'delivered' } })

/** The partner got exactly this MSG from the victim. */
const partnerGot = (message_id: string, content: string) => async ({ shared, victim }: { shared: Shared; victim: { user_id?: string } }, t: Test) => {
  const m = await shared.partner.client.waitFor((f: Frame) => f.type === 'MSG' && f.data.message_id === message_id, { timeout: 3000 })
  t.same({ from: m.data.from, content: m.data.content }, { from: victim.user_id, content }, `the partner received ${JSON.stringify(content)}`)
}

/** A MSG with this content is delivered as `shown`. */
function delivered(name: string, content: string, shown: string): Case<Shared> {
  const id = `m-${randomUUID()}`
  return { name, send: msg({ to: PARTNER, content, message_id: id }), expect: { replies: [ack(id)] }, after: partnerGot(id, shown) }
}

const BIG_MSG = `{"type":"MSG","data":{"to":"${PARTNER}","message_id":"big-1","content":"%"}}`

const badContent = (id: string, got: number) => {
  const message = `must be 1–1000 characters after removing HTML (got ${got})`
  return error('VALIDATION', `invalid MSG: /data/content: ${message}`, { message_id: id, errors: [{ path: '/data/content', message }] })
}

const identified: Case<Shared>[] = [
  { name: 'MSG: to a number', send: msg({ to: 5, content: 'hi' }), expect: { replies: [invalid('MSG', ['/data/to', UUID])] } },
  { name: 'MSG: content a number', send: msg({ to: PARTNER, content: 5 }), expect: { replies: [invalid('MSG', ['/data/content', 'Expected string'])] } },
  { name: 'MSG: content null', send: msg({ to: PARTNER, content: null }), expect: { replies: [invalid('MSG', ['/data/content', 'Expected string'])] } },
  { name: 'MSG: content an object', send: msg({ to: PARTNER, content: { html: '<b>' } }), expect: { replies: [invalid('MSG', ['/data/content', 'Expected string'])] } },
  { name: `MSG: content arrays nested ${DEEP} deep`, send: `{"type":"MSG","data":{"to":"${PARTNER}","content":${deepArray(DEEP)}}}`, expect: { replies: [invalid('MSG', ['/data/content', 'Expected string'])] } },
  { name: 'MSG: message_id a number', send: msg({ to: PARTNER, content: 'hi', message_id: 5 }), expect: { replies: [invalid('MSG', ['/data/message_id', 'Expected string'])] } },
  { name: 'MSG: message_id empty', send: msg({ to: PARTNER, content: 'hi', message_id: '' }), expect: { replies: [invalid('MSG', ['/data/message_id', 'Expected string length greater or equal to 1'])] } },
  { name: 'MSG: message_id of 129 characters', send: msg({ to: PARTNER, content: 'hi', message_id: 'x'.repeat(129) }), expect: { replies: [invalid('MSG', ['/data/message_id', 'Expected string length less or equal to 128'])] } },
  { name: 'MSG: data missing', send: '{"type":"MSG"}', expect: { replies: [invalid('MSG', ['/data', 'Expected required property'])] } },
  { name: 'MSG: data an array', send: '{"type":"MSG","data":[]}', expect: { replies: [invalid('MSG', ['/data', 'Expected object'])] } },
  { name: 'MSG: an unknown field', send: msg({ to: PARTNER, content: 'hi', priority: 'high' }), expect: { replies: [invalid('MSG', ['/data/priority', 'Unexpected property'])] } },
  { name: 'MSG: to __proto__', send: msg({ to: '__proto__', content: 'hi' }), expect: { replies: [invalid('MSG', ['/data/to', UUID])] } },
  { name: 'MSG: to constructor', send: msg({ to: 'constructor', content: 'hi' }), expect: { replies: [invalid('MSG', ['/data/to', UUID])] } },
  { name: 'MSG: to a user nobody is', send: msg({ to: NOBODY, content: 'hi', message_id: 'nobody-1' }), expect: { replies: [error('USER_NOT_FOUND', 'user is not online', { message_id: 'nobody-1' })] } },
  { name: 'MSG: __proto__ as message_id is just an id', send: msg({ to: PARTNER, content: 'proto id', message_id: '__proto__' }), expect: { replies: [ack('__proto__')] }, after: partnerGot('__proto__', 'proto id') },
  {
    name: 'MSG: constructor as message_id, sent twice, is delivered once and acked twice',
    send: { repeat: 2, frame: msg({ to: PARTNER, content: 'ctor id', message_id: 'constructor' }) },
    expect: { replies: [ack('constructor'), ack('constructor')] },
    async after({ shared }, t) {
      const got = (await collect(shared.partner.client, 300)).filter((f: Frame) => f.type === 'MSG' && f.data.message_id === 'constructor')
      t.equal(got.length, 1, 'delivered once')
    }
  },
  { name: 'MSG: a __proto__ key beside the data is removed', send: `{"type":"MSG","data":{"to":"${PARTNER}","content":"p","message_id":"proto-key"},"__proto__":{"type":"HELLO"}}`, expect: { replies: [ack('proto-key')] }, after: partnerGot('proto-key', 'p') },
  delivered('MSG: NUL and control characters are removed from content', `a${CHARS.nul}b${CHARS.controls}c`, 'ab[31mc'),
  delivered('MSG: lone surrogates in content become U+FFFD', `x${CHARS.loneHigh}y${CHARS.loneLow}`, 'x\ufffdy\ufffd'),
  delivered('MSG: RTL overrides and isolates are removed from content', `invoice${CHARS.rtlOverride}fdp.exe${CHARS.isolate}`, 'invoicefdp.exe'),
  delivered('MSG: zero-width characters in content are kept (they are not markup)', `a${CHARS.zeroWidth}b`, `a${CHARS.zeroWidth}b`),
  delivered('MSG: tabs and line breaks in content are kept', 'line 1\n\tline 2', 'line 1\n\tline 2'),
  delivered('MSG: a script is removed with its body', '<script>alert(1)</script>hello', 'hello'),
  delivered('MSG: nested markup does not reassemble a tag', '<<script>script>alert(1)<</script>/script>hi', 'hi'),
  delivered('MSG: attribute injection is removed', '"><img src=x onerror=alert(1)>ok', '">ok'),
  delivered('MSG: already-escaped markup stays exactly as typed', '&lt;script&gt;alert(1)&lt;/script&gt; &amp;lt;', '&lt;script&gt;alert(1)&lt;/script&gt; &amp;lt;'),
  delivered('MSG: prose angle brackets stay', 'a < b > c <3', 'a < b > c <3'),
  { name: 'MSG: content of only markup is empty', send: msg({ to: PARTNER, content: '<img src=x onerror=alert(1)>', message_id: 'empty-1' }), expect: { replies: [badContent('empty-1', 0)] } },
  { name: 'MSG: content of only controls is empty', send: msg({ to: PARTNER, content: `${CHARS.nul}${CHARS.controls.slice(0, 2)}`, message_id: 'empty-2' }), expect: { replies: [badContent('empty-2', 0)] } },
  { name: 'MSG: content just under the frame limit', send: sized(BIG_MSG, LIMIT), expect: { replies: [badContent('big-1', LIMIT - Buffer.byteLength(BIG_MSG) + 1)] } },
  { name: 'MSG: 60 KB of unclosed "<!--"', send: msg({ to: PARTNER, content: '<!--'.repeat(15_000), message_id: 'big-2' }), expect: { replies: [badContent('big-2', 0)] } },
  { name: 'OPEN_CHAT: target a number', send: '{"type":"OPEN_CHAT","data":{"target_user_id":1}}', expect: { replies: [invalid('OPEN_CHAT', ['/data/target_user_id', UUID])] } },
  { name: 'OPEN_CHAT: target __proto__', send: '{"type":"OPEN_CHAT","data":{"target_user_id":"__proto__"}}', expect: { replies: [invalid('OPEN_CHAT', ['/data/target_user_id', UUID])] } },
  { name: 'OPEN_CHAT: target_display_name a number', send: `{"type":"OPEN_CHAT","data":{"target_user_id":"${PARTNER}","target_display_name":5}}`, expect: { replies: [invalid('OPEN_CHAT', ['/data/target_display_name', 'Expected string'])] } },
  { name: 'OPEN_CHAT: a user nobody is', send: `{"type":"OPEN_CHAT","data":{"target_user_id":"${NOBODY}"}}`, expect: { replies: [error('USER_NOT_FOUND', 'user is not online', { target_user_id: NOBODY })] } },
  { name: 'TYPING: is_typing a string', send: '{"type":"TYPING","data":{"is_typing":"yes"}}', expect: { replies: [invalid('TYPING', ['/data/is_typing', 'Expected boolean'])] } },
  { name: 'TYPING: to prototype', send: '{"type":"TYPING","data":{"is_typing":true,"to":"prototype"}}', expect: { replies: [invalid('TYPING', ['/data/to', UUID])] } },
  { name: 'TYPING: to a user with no chat', send: `{"type":"TYPING","data":{"is_typing":true,"to":"${NOBODY}"}}`, expect: { replies: [error('CHAT_NOT_OPENED', 'open a chat with this user first', { to: NOBODY })] } },
  { name: 'MSG_ACK: message_id a number', send: '{"type":"MSG_ACK","data":{"message_id":5}}', expect: { replies: [invalid('MSG_ACK', ['/data/message_id', 'Expected string'])] } },
  { name: 'MSG_ACK: for constructor, which nobody sent, is ignored', send: '{"type":"MSG_ACK","data":{"message_id":"constructor"}}', expect: { replies: [] } },
  { name: 'MSG_ACK: status other than received', send: '{"type":"MSG_ACK","data":{"message_id":"x","status":"read"}}', expect: { replies: [invalid('MSG_ACK', ['/data/status', "Expected 'received'"])] } },
  { name: 'PING: data an array', send: '{"type":"PING","data":[]}', expect: { replies: [invalid('PING', ['/data', 'Expected object'])] } },
  { name: 'PING: an unknown field in data', send: '{"type":"PING","data":{"x":1}}', expect: { replies: [invalid('PING', ['/data/x', 'Unexpected property'])] } },
  { name: 'PING: an unknown top-level field', send: '{"type":"PING","data":{},"x":1}', expect: { replies: [invalid('PING', ['/x', 'Unexpected property'])] } },
  { name: 'PING: a __proto__ key in data is removed', send: '{"type":"PING","data":{"__proto__":{"polluted":1}}}', expect: { replies: [PONG] } },
  { name: 'PING: a constructor.prototype key is removed', send: '{"type":"PING","data":{"constructor":{"prototype":{"polluted":1}}}}', expect: { replies: [PONG] } },
  { name: 'PING: constructor as a plain key is an unknown field', send: '{"type":"PING","data":{"constructor":1}}', expect: { replies: [invalid('PING', ['/data/constructor', 'Unexpected property'])] } },
  {
    name: 'PING: 6,000 unknown fields get at most 20 errors (no amplification)',
    send: `{"type":"PING","data":{${Array.from({ length: 6000 }, (_, i) => `"k${i}":0`).join(',')}}}`,
    expect: {
      count: 1,
      assert([e]: Frame[], t: Test) {
        t.equal(e.data.details.errors.length, 20)
        t.ok(JSON.stringify(e).length < 2000, `the reply is ${JSON.stringify(e).length} bytes, not ~530 KB`)
      }
    }
  },
  { name: 'a second HELLO', send: hello({ user_id: ID, display_name: 'Mallory' }), expect: { replies: [error('VALIDATION', 'already identified')] } },
  { name: 'a second HELLO with a bad shape is validated first', send: hello({ user_id: ID }), expect: { replies: [invalid('HELLO', ['/data/display_name', 'Expected required property'])] } },
  { name: 'a binary frame gets ERROR VALIDATION', send: { binary: Buffer.from([0, 1, 2]) }, expect: { replies: [error('VALIDATION', 'binary frames are not supported')] } },
  ...transportRows<Shared>({ frame: msg({ to: PARTNER, content: 'é', message_id: 'frag-1' }), expect: { replies: [ack('frag-1')] } })
]

const chatting: Surface<Shared> = {
  name: '/ws FastChat, identified',
  async setup(app) {
    return { partner: await join(app, 'Partner', { user_id: PARTNER }) }
  },
  async open(app, { partner }) {
    const victim = await join(app, 'Victim')
    await openChat(victim, partner)
    return { client: victim.client, user_id: victim.user_id }
  },
  probe,
  normalize,
  ignore: (m: Frame) => m?.type === 'PRESENCE',
  state: (app, { partner }, victim) => ({
    online: app.app.presence.size,
    victim: app.app.presence.displayName(victim.user_id!),
    partner: app.app.presence.displayName(partner.user_id)
  }),
  quiet: (app) => app.app.presence.size === 2, // the partner and the bystander
  cases: identified
}

await t.test(plain.name, (t) => runSurface(t, plain))
await t.test(chatting.name, (t) => runSurface(t, chatting))
