// Chaos: hostile frames on /ws/health (SPEC section 5). Text that is not JSON gets no reply;
// any other JSON that is not get_status, ping or pong gets {"type":"error","message":…}; the
// connection stays open and get_status keeps answering `healthy` whatever was sent before.
import t, { type Test } from 'tap'
import { greeted, mask, runSurface, type Case, type Frame, type Surface } from './harness.ts'
import { CHARS, DEEP, deepArray, deepObject, LIMIT, manyItems, sized, transportRows } from './hostile.ts'
import { stringifyJson } from '../../src/lib/json.ts'

const NOT_AN_OBJECT = { type: 'error', message: 'expected a JSON object with a "type"' }
const UNKNOWN = { type: 'error', message: 'unknown message type' }
const PONG = { type: 'pong', timestamp: '<number>', client_id: '<string>' }
const HEALTHY = {
  type: 'health_status', status: 'healthy', connection_age_seconds: '<number>', ping_count: 0, pong_count: 0, timestamp: '<number>', client_id: '<string>'
}

/** get_status after the row: `pong_count` counted exactly the pongs sent. */
const pongCount = (n: number) => async ({ victim }: { victim: { client: { send(m: unknown): void; waitFor(p: (m: Frame) => boolean): Promise<Frame> } } }, t: Test) => {
  victim.client.send({ type: 'get_status' })
  const status = await victim.client.waitFor((m: Frame) => m.type === 'health_status')
  t.equal(status.status, 'healthy')
  t.equal(status.pong_count, n, `pong_count is ${n}`)
}

const cases: Case<undefined>[] = [
  { name: 'malformed JSON gets no reply', send: '{"type":"get_status"', expect: { replies: [] } },
  { name: 'plain text gets no reply', send: 'ping', expect: { replies: [] } },
  { name: 'an empty frame gets no reply', send: '', expect: { replies: [] } },
  { name: 'JSON that is not an object: an array', send: '[{"type":"get_status"}]', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'JSON that is not an object: a string', send: '"get_status"', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'JSON that is not an object: null', send: 'null', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'type a number', send: '{"type":5}', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'type an array naming a real type', send: '{"type":["get_status"]}', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'type missing', send: '{"status":"get_status"}', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'an unknown type', send: '{"type":"reboot"}', expect: { replies: [UNKNOWN] } },
  { name: 'type in the wrong case', send: '{"type":"GET_STATUS"}', expect: { replies: [UNKNOWN] } },
  { name: 'get_status with extra fields still answers', send: '{"type":"get_status","verbose":true,"x":[1]}', expect: { replies: [HEALTHY] } },
  { name: 'ping with extra fields still answers', send: '{"type":"ping","x":1}', expect: { replies: [PONG] } },
  { name: 'a pong is counted, not answered', send: '{"type":"pong"}', expect: { replies: [] }, after: pongCount(1) },
  { name: 'a pong with extra fields is counted', send: '{"type":"pong","timestamp":"x"}', expect: { replies: [] }, after: pongCount(1) },
  ...['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'].map((type): Case<undefined> => ({
    name: `${type} as a type is unknown`, send: `{"type":"${type}"}`, expect: { replies: [UNKNOWN] }
  })),
  { name: '__proto__ as a key is removed before dispatch', send: '{"__proto__":{"type":"get_status"}}', expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'a __proto__ key beside a real type', send: '{"type":"ping","__proto__":{"polluted":1}}', expect: { replies: [PONG] } },
  { name: `arrays nested ${DEEP} deep`, send: deepArray(DEEP), expect: { replies: [NOT_AN_OBJECT] } },
  { name: 'objects nested 8000 deep beside an unknown type', send: `{"type":"x","d":${deepObject(8000)}}`, expect: { replies: [UNKNOWN] } },
  { name: 'a type just under the frame limit', send: sized('{"type":"%"}', LIMIT), expect: { replies: [UNKNOWN] } },
  { name: 'an array of 16,000 items', send: manyItems('{"type":"get_status","a":[%]}', 16_000), expect: { replies: [HEALTHY] } },
  { name: 'control characters, NUL and lone surrogates in the type', send: stringifyJson({ type: `get${CHARS.nul}status${CHARS.loneHigh}` }), expect: { replies: [UNKNOWN] } },
  { name: 'RTL overrides and zero-width characters in the type', send: stringifyJson({ type: `get_status${CHARS.zeroWidth}${CHARS.rtlOverride}` }), expect: { replies: [UNKNOWN] } },
  { name: 'a script payload as the type', send: '{"type":"<script>alert(1)</script>"}', expect: { replies: [UNKNOWN] } },
  { name: 'a binary frame gets the error message', send: { binary: Buffer.from('{"type":"get_status"}') }, expect: { replies: [{ type: 'error', message: 'binary frames are not supported' }] } },
  ...transportRows<undefined>({ frame: '{"type":"ping","note":"é"}', expect: { replies: [PONG] } })
]

const surface: Surface = {
  name: '/ws/health',
  open: greeted('/ws/health'),
  // get_status, not ping: no row answers with health_status except the two that expect it,
  // and `healthy` after every hostile frame is exactly what SPEC promises.
  probe: () => ({ frame: { type: 'get_status' }, is: (m: Frame) => m.type === 'health_status' && m.status === 'healthy' }),
  normalize: (m: Frame) => mask(m, { timestamp: 'number', client_id: 'string', connection_age_seconds: 'number' }),
  cases
}

await runSurface(t, surface)
