// Chaos: hostile frames on /ws/echo, both dialects (SPEC section 4). The smoke dialect echoes
// anything: JSON as `echo` with the frame's own JSON text as `original`, other text
// as `echo_raw`; the action dialect answers schema problems with pydantic-shaped errors, each
// followed by `complete`. No frame below may close the connection except the transport rows.
import t, { type Test } from 'tap'
import { greeted, mask, runSurface, type Case, type Frame, type Surface } from './harness.ts'
import { CHARS, DEEP, deepArray, deepObject, LIMIT, manyItems, sized, transportRows } from './hostile.ts'
import { stringifyJson } from '../../src/lib/json.ts'

const echoed = (original: unknown) => ({ type: 'echo', original, server_timestamp: '<number>', client_id: '<string>', latency_info: '<object>' })
const raw = (data: string) => ({ type: 'echo_raw', data, server_timestamp: '<number>', client_id: '<string>' })
const COMPLETE = { action: 'complete', payload: null }
const actionError = (...payload: unknown[]) => [{ action: 'error', payload }, COMPLETE]
const TAGS = "'ping', 'echo'"
const tagInvalid = (tag: string) => ({ type: 'union_tag_invalid', loc: ['action'], msg: `Input tag '${tag}' found using 'action' does not match any of the expected tags: ${TAGS}` })
// Pydantic v2's wording, as the dialect's own servers answer.
const stringType = { type: 'string_type', loc: ['echo', 'payload'], msg: 'Input should be a valid string' }

/** The one echo reply to a frame too big or deep to spell out: its `original`, written back as JSON, is the frame. */
const echoesText = (text: string) => ({
  count: 1,
  assert([reply]: Frame[], t: Test) {
    t.equal(reply.type, 'echo')
    t.equal(stringifyJson(reply.original), text, `the original came back unchanged (${text.length} bytes)`)
  }
})

const smoke: Case<undefined>[] = [
  { name: 'malformed JSON: an unterminated object', send: '{"type":"test","data":', expect: { replies: [raw('{"type":"test","data":')] } },
  { name: 'truncated: the first half of a valid frame', send: '{"type":"test","da', expect: { replies: [raw('{"type":"test","da')] } },
  { name: 'a trailing comma', send: '{"a":1,}', expect: { replies: [raw('{"a":1,}')] } },
  { name: 'single quotes', send: "{'a':1}", expect: { replies: [raw("{'a':1}")] } },
  { name: 'two objects in one frame', send: '{"a":1}{"b":2}', expect: { replies: [raw('{"a":1}{"b":2}')] } },
  { name: 'an empty frame', send: '', expect: { replies: [raw('')] } },
  { name: 'JSON that is not an object: an array', send: '[1,"two",{"three":3}]', expect: { replies: [echoed([1, 'two', { three: 3 }])] } },
  { name: 'JSON that is not an object: a string', send: '"hello"', expect: { replies: [echoed('hello')] } },
  { name: 'JSON that is not an object: a number', send: '-1.5e300', expect: { replies: [echoed(-1.5e300)] } },
  { name: 'JSON that is not an object: null', send: 'null', expect: { replies: [echoed(null)] } },
  { name: 'an object with no type', send: '{"data":1}', expect: { replies: [echoed({ data: 1 })] } },
  { name: `arrays nested ${DEEP} deep come back unchanged`, send: deepArray(DEEP), expect: echoesText(deepArray(DEEP)) },
  { name: 'objects nested 8000 deep come back unchanged', send: deepObject(8000), expect: echoesText(deepObject(8000)) },
  { name: 'a string just under the frame limit', send: sized('{"type":"big","s":"%"}', LIMIT), expect: echoesText(sized('{"type":"big","s":"%"}', LIMIT)) },
  { name: 'an array of 16,000 items just under the limit', send: manyItems('{"type":"big","a":[%]}', 16_000), expect: echoesText(manyItems('{"type":"big","a":[%]}', 16_000)) },
  { name: '{"type":"pong"} is counted, never answered', send: '{"type":"pong"}', expect: { replies: [] } },
  { name: 'a pong with extra fields is a pong too', send: '{"type":"pong","extra":[1]}', expect: { replies: [] } },
  // Echoed as the text that came (never a parsed object re-serialized): nothing reaches a prototype.
  { name: '__proto__ as a key comes back as sent', send: '{"type":"x","__proto__":{"polluted":1}}', expect: echoesText('{"type":"x","__proto__":{"polluted":1}}') },
  { name: 'constructor.prototype as a key comes back as sent', send: '{"type":"x","constructor":{"prototype":{"polluted":1}}}', expect: echoesText('{"type":"x","constructor":{"prototype":{"polluted":1}}}') },
  { name: 'constructor and prototype as plain keys are data', send: '{"constructor":1,"prototype":2}', expect: { replies: [echoed({ constructor: 1, prototype: 2 })] } },
  { name: '__proto__ as a type', send: '{"type":"__proto__"}', expect: { replies: [echoed({ type: '__proto__' })] } },
  {
    name: 'control characters, NUL and escape sequences come back as sent, JSON-escaped',
    send: stringifyJson({ type: 't', s: `a${CHARS.nul}b${CHARS.controls}` }),
    expect: { replies: [echoed({ type: 't', s: `a${CHARS.nul}b${CHARS.controls}` })] }
  },
  { name: 'lone surrogates (escaped) come back escaped', send: '{"s":"\\ud800x\\udfff"}', expect: { replies: [echoed({ s: '\ud800x\udfff' })] } },
  { name: 'RTL overrides and zero-width characters come back as sent', send: stringifyJson({ s: `a${CHARS.rtlOverride}b${CHARS.zeroWidth}` }), expect: { replies: [echoed({ s: `a${CHARS.rtlOverride}b${CHARS.zeroWidth}` })] } },
  { name: 'a script payload in JSON is data', send: '{"s":"<script>alert(1)</script>"}', expect: { replies: [echoed({ s: '<script>alert(1)</script>' })] } },
  { name: 'a script payload as text is echo_raw', send: '<img src=x onerror=alert(1)>', expect: { replies: [raw('<img src=x onerror=alert(1)>')] } },
  { name: 'a binary frame gets the error message', send: { binary: Buffer.from('{"type":"test"}') }, expect: { replies: [{ type: 'error', message: 'binary frames are not supported' }] } }
]

const actions: Case<undefined>[] = [
  { name: 'action: a valid echo', send: '{"action":"echo","payload":"héllo"}', expect: { replies: [{ action: 'echo', payload: 'anonymous: héllo' }, COMPLETE] } },
  { name: 'action: payload a number', send: '{"action":"echo","payload":5}', expect: { replies: actionError(stringType) } },
  { name: 'action: payload null', send: '{"action":"echo","payload":null}', expect: { replies: actionError(stringType) } },
  { name: 'action: payload an object', send: '{"action":"echo","payload":{"a":1}}', expect: { replies: actionError(stringType) } },
  { name: 'action: payload missing', send: '{"action":"echo"}', expect: { replies: actionError({ type: 'missing', loc: ['echo', 'payload'], msg: 'Field required' }) } },
  { name: 'action: ping with a payload', send: '{"action":"ping","payload":5}', expect: { replies: actionError({ type: 'none_required', loc: ['ping', 'payload'], msg: 'Input should be None' }) } },
  { name: 'action: a number', send: '{"action":5}', expect: { replies: actionError(tagInvalid('5')) } },
  { name: 'action: null', send: '{"action":null}', expect: { replies: actionError(tagInvalid('null')) } },
  { name: 'action: an array naming a real action', send: '{"action":["echo"]}', expect: { replies: actionError(tagInvalid('["echo"]')) } },
  { name: 'action: an empty string', send: '{"action":""}', expect: { replies: actionError(tagInvalid('')) } },
  { name: 'action: unknown', send: '{"action":"nope"}', expect: { replies: actionError(tagInvalid('nope')) } },
  { name: 'action: missing, payload only', send: '{"payload":"x"}', expect: { replies: actionError({ type: 'union_tag_not_found', loc: ['action'], msg: "Unable to extract tag using discriminator 'action'" }) } },
  {
    name: 'action: an unknown extra field',
    send: '{"action":"ping","extra":1}',
    expect: { replies: actionError({ type: 'extra_forbidden', loc: ['extra'], msg: 'Extra inputs are not permitted' }) }
  },
  {
    name: 'action: 6,000 unknown fields get at most 20 errors (no amplification)',
    send: `{"action":"ping",${Array.from({ length: 6000 }, (_, i) => `"k${i}":0`).join(',')}}`,
    expect: {
      count: 2,
      assert([error, complete]: Frame[], t: Test) {
        t.equal(error.payload.length, 20, '20 entries')
        t.same(error.payload[0], { type: 'extra_forbidden', loc: ['k0'], msg: 'Extra inputs are not permitted' })
        t.same(complete, COMPLETE)
      }
    }
  },
  ...['__proto__', 'constructor', 'toString', 'hasOwnProperty'].map((tag): Case<undefined> => ({
    name: `action: ${tag} is no action`, send: `{"action":"${tag}"}`, expect: { replies: actionError(tagInvalid(tag)) }
  })),
  { name: 'action: a __proto__ key is removed', send: '{"action":"echo","payload":"x","__proto__":{"polluted":1}}', expect: { replies: [{ action: 'echo', payload: 'anonymous: x' }, COMPLETE] } },
  { name: 'action: a constructor.prototype key is removed', send: '{"action":"echo","payload":"x","constructor":{"prototype":{"p":1}}}', expect: { replies: [{ action: 'echo', payload: 'anonymous: x' }, COMPLETE] } },
  { name: `action: a payload nested ${DEEP} deep`, send: `{"action":"echo","payload":${deepArray(DEEP)}}`, expect: { replies: actionError(stringType) } },
  {
    name: 'action: a tag just under the frame limit',
    send: sized('{"action":"%"}', LIMIT),
    expect: {
      count: 2,
      assert([error, complete]: Frame[], t: Test) {
        t.equal(error.payload[0].type, 'union_tag_invalid')
        t.same(complete, COMPLETE)
      }
    }
  },
  {
    name: 'action: control characters and script payloads are echoed as text',
    send: stringifyJson({ action: 'echo', payload: `<script>${CHARS.nul}${CHARS.rtlOverride}</script>` }),
    expect: { replies: [{ action: 'echo', payload: `anonymous: <script>${CHARS.nul}${CHARS.rtlOverride}</script>` }, COMPLETE] }
  }
]

const surface: Surface = {
  name: '/ws/echo',
  open: greeted('/ws/echo'),
  probe: (n) => ({ frame: { type: 'probe', n }, is: (m: Frame) => m.type === 'echo' && m.original?.n === n }),
  normalize: (m: Frame) => (m.type === 'echo' || m.type === 'echo_raw' ? mask(m, { server_timestamp: 'number', client_id: 'string', latency_info: 'object' }) : m),
  cases: [
    ...smoke,
    ...actions,
    ...transportRows({ frame: '{"type":"t","s":"é"}', expect: { replies: [echoed({ type: 't', s: 'é' })] } })
  ]
}

await runSurface(t, surface)
