// `/ws` greeting and echo dialect (SPEC section 2): the WELCOME greeting, `{"type":"ping"}` →
// pong, and the echo envelope for any other JSON object. FastChat lives in fastchat.ts.
import { Type, type Static } from '@sinclair/typebox'
import type { DialectDocs } from './message-doc.ts'
import '../lib/formats.ts'
import { isoNow } from '../lib/clock.ts'

export const Welcome = Type.Object({
  type: Type.Literal('WELCOME'),
  data: Type.Object({
    client_id: Type.String(),
    server_time: Type.String({ format: 'date-time' }),
    protocols: Type.Array(Type.String()),
    heartbeat: Type.Object({ ping_interval: Type.Number(), pong_timeout: Type.Number() })
  })
}, { additionalProperties: false, description: 'first frame on /ws' })
export type Welcome = Static<typeof Welcome>

export const LowerPing = Type.Object({ type: Type.Literal('ping') }, { description: 'smoke-test ping' })

export const LowerPong = Type.Object({
  type: Type.Literal('pong'),
  timestamp: Type.Number(),
  client_id: Type.String()
}, { additionalProperties: false })
export type LowerPong = Static<typeof LowerPong>

export const MainEcho = Type.Object({
  type: Type.Literal('echo'),
  data: Type.Unknown({ description: 'the object as sent' }),
  timestamp: Type.Number(),
  client_id: Type.String(),
  server_processing_ms: Type.Number()
}, { additionalProperties: false })
export type MainEcho = Static<typeof MainEcho>

/** The WELCOME a /ws connection gets first (SPEC section 2). */
export function welcomeFrame(clientId: string): string {
  return JSON.stringify({
    type: 'WELCOME',
    data: { client_id: clientId, server_time: isoNow(), protocols: ['echo', 'fastchat'], heartbeat: CLIENT_HEARTBEAT }
  } satisfies Welcome)
}

/** Interval the browser client should ping at and how long it waits for PONG (SPEC section 3). */
export const CLIENT_HEARTBEAT = { ping_interval: 15, pong_timeout: 5 } as const

// ---------------------------------------------------------------- docs (AsyncAPI)

const PlainText = Type.String({ description: 'any text that is not a JSON object; echoed back byte for byte' })
const AnyObject = Type.Object({}, { additionalProperties: true, description: 'any other JSON object; answered with the echo envelope' })
const EXAMPLE_ID = 'ws_client_1699564790123_99999'

/** The greeting/echo half of /ws for the AsyncAPI document (FastChat adds its own). */
export const mainDocs: DialectDocs = {
  receive: [
    { name: 'text', schema: PlainText, examples: ['hello'], text: true },
    { name: 'ping', schema: LowerPing, examples: [{ type: 'ping' }] },
    { name: 'object', schema: AnyObject, examples: [{ type: 'custom', data: 'test' }] }
  ],
  send: [
    {
      name: 'WELCOME', schema: Welcome,
      examples: [{ type: 'WELCOME', data: { client_id: EXAMPLE_ID, server_time: '2024-01-01T12:00:00.000Z', protocols: ['echo', 'fastchat'], heartbeat: CLIENT_HEARTBEAT } }]
    },
    { name: 'text', schema: PlainText, examples: ['hello'], text: true },
    { name: 'pong', summary: 'answer to ping', schema: LowerPong, examples: [{ type: 'pong', timestamp: 1699564800.789, client_id: EXAMPLE_ID }] },
    {
      name: 'echo', summary: 'any other JSON object, as sent, with server time', schema: MainEcho,
      examples: [{ type: 'echo', data: { type: 'custom', data: 'test' }, timestamp: 1699564801.123, client_id: EXAMPLE_ID, server_processing_ms: 0.234 }]
    }
  ]
}
