// src/protocol/fastchat.ts: every client schema is strict, validation names each failing field,
// and every frame the server builds matches its published schema.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Value } from '@sinclair/typebox/value'
import type { TSchema } from '@sinclair/typebox'
import {
  ClientMessages, ServerMessages, checkClientMessage, chatOpenedFrame, errorFrame, helloAckFrame, msgAckFrame, msgFrame, pongFrame,
  presenceFrame, typingFrame, validationFrame, type ClientType
} from '../src/protocol/fastchat.ts'

const check = (msg: Record<string, unknown>) => checkClientMessage(msg as Record<string, unknown> & { type: ClientType })

t.test('client schemas refuse unknown fields at every level', async (t) => {
  for (const [type, schema] of Object.entries(ClientMessages) as [string, TSchema][]) {
    t.equal(schema.additionalProperties, false, `${type} top level`)
    t.equal(schema.properties.data.additionalProperties, false, `${type} data`)
    const r = check({ type, data: { surprise: 1 } })
    t.equal(r.ok, false)
    if (!r.ok) t.ok(r.errors.some((e) => e.path === '/data/surprise'), `${type}: /data/surprise named`)
  }
})

t.test('validation results', async (t) => {
  const id = randomUUID()
  const ok = check({ type: 'HELLO', data: { user_id: id, display_name: ' <i>Al</i>ice ' } })
  t.same(ok, { ok: true, message: { type: 'HELLO', data: { user_id: id, display_name: 'Alice' } } }, 'display_name comes back cleaned')
  t.same(check({ type: 'PING', data: {} }), { ok: true, message: { type: 'PING', data: {} } })
  t.same(check({ type: 'TYPING', data: { is_typing: 'yes' } }), { ok: false, errors: [{ path: '/data/is_typing', message: 'Expected boolean' }] })
  t.same(check({ type: 'MSG', data: { to: 'bob', content: 'x' } }), { ok: false, errors: [{ path: '/data/to', message: 'must be a UUID v4' }] })
  t.same(check({ type: 'MSG_ACK', data: { message_id: '' } }).ok, false, 'empty message_id')
  t.same(check({ type: 'MSG', data: { to: id, content: 'x', message_id: 'x'.repeat(129) } }).ok, false, 'message_id over 128')
})

t.test('every server frame matches its schema', async (t) => {
  const a = randomUUID()
  const b = randomUUID()
  const frames = [
    helloAckFrame(a),
    presenceFrame([{ user_id: a, display_name: 'Alice', online: true }]),
    chatOpenedFrame({ chat_id: 'chat_x', participants: [a, b], target_user_id: b, target_display_name: 'Bob' }),
    msgFrame({ from: a, to: b, content: 'hi', message_id: 'm', timestamp: new Date().toISOString() }),
    msgAckFrame('m', 'delivered'),
    msgAckFrame('m', 'received'),
    typingFrame(a, false),
    pongFrame(new Date().toISOString()),
    errorFrame('USER_NOT_FOUND', 'user is not online'),
    validationFrame('HELLO', [{ path: '/data/user_id', message: 'must be a UUID v4' }])
  ]
  for (const f of frames) {
    const msg = JSON.parse(f) as { type: keyof typeof ServerMessages }
    t.ok(Value.Check(ServerMessages[msg.type], msg), `${msg.type}: ${f.slice(0, 60)}`)
  }
})

t.test('MSG and MSG_ACK templates write exactly what JSON.stringify of the object writes', async (t) => {
  const hostile = ['hi', '"quoted" \\ back\\slash', 'line\nbreak\ttab\u0000nul', '\u2028\u2029', 'é 中文 🎉', '\ud800 lone', 'end \udfff', '\u007f\u001f', '</script><b>', '']
  // Compared silently and reported once: raw U+2028 in a TAP comment line would split it.
  const differ: string[] = []
  const hex = (s: string) => [...s].map((c) => c.codePointAt(0)!.toString(16)).join(' ')
  let checked = 0
  for (const content of hostile) {
    for (const id of ['m-1', '"', '\\u0000', 'ü\n']) {
      const data = { from: 'a"b', to: 'c\\d', content, message_id: id, timestamp: '2026-11-23T16:00:00.000Z' }
      if (msgFrame(data) !== JSON.stringify({ type: 'MSG', data })) differ.push(`MSG ${hex(content)} / ${hex(id)}`)
      for (const status of ['delivered', 'received'] as const) {
        if (msgAckFrame(id, status) !== JSON.stringify({ type: 'MSG_ACK', data: { message_id: id, status } })) differ.push(`MSG_ACK ${hex(id)}`)
      }
      checked++
    }
  }
  t.equal(checked, 40)
  t.same(differ, [], 'no frame differs')
})
