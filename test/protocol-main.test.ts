// The /ws greeting's template (src/protocol/main.ts, welcomeFrame) against JSON.stringify of the
// same object: byte for byte, for client ids of every kind of character (the service's own ids are
// plain ASCII, so the template must also be right for what it never sees), and valid by the schema.
import t from 'tap'
import fc from 'fast-check'
import { Value } from '@sinclair/typebox/value'
import { Welcome, welcomeFrame, welcomeObject } from '../src/protocol/main.ts'

function sameAsStringify(clientId: string): boolean {
  const frame = welcomeFrame(clientId)
  const time = (JSON.parse(frame) as Welcome).data.server_time
  return frame === JSON.stringify(welcomeObject(clientId, time))
}

t.test('welcomeFrame is JSON.stringify of the WELCOME, byte for byte', async (t) => {
  for (const id of ['ws_client_1699564790123_00042', '', 'a"b', 'back\\slash', 'line\nbreak', '\u0000\u001f', '\ud800 lone', '😀 pair', 'é</script>']) {
    t.ok(sameAsStringify(id), JSON.stringify(id))
  }
  fc.assert(fc.property(fc.string({ unit: 'binary' }), sameAsStringify), { numRuns: 2000 })
  // UTF-16 code units one by one: lone surrogates too, which whole code points never give.
  fc.assert(fc.property(fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)) }), sameAsStringify), { numRuns: 2000 })
  t.pass('4,000 random ids')
})

t.test('the WELCOME is valid by its schema and carries the current time', async (t) => {
  const before = Date.now()
  const msg = JSON.parse(welcomeFrame('ws_client_1699564790123_00042')) as Welcome
  t.ok(Value.Check(Welcome, msg))
  t.same(msg.data.protocols, ['echo', 'fastchat'])
  t.same(msg.data.heartbeat, { ping_interval: 15, pong_timeout: 5 })
  const at = Date.parse(msg.data.server_time)
  t.ok(at >= before - 1 && at <= Date.now(), msg.data.server_time)
})
