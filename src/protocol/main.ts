// `/ws` greeting and echo dialect (SPEC section 2): the WELCOME greeting, `{"type":"ping"}` →
// pong, and the echo envelope for any other JSON object. FastChat lives in fastchat.ts.
import { Type, type Static } from '@sinclair/typebox'
import type { DialectDocs } from './message-doc.ts'
import '../lib/formats.ts'
import { floatJson, isoNow, round3, secondsJson } from '../lib/clock.ts'
import { jsonString, objectJson } from '../lib/json.ts'

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

/**
 * The echo envelope around `objectText`, the frame's own text (trimmed): "the object as sent"
 * (SPEC section 2), member order and numbers included, which a parse and stringify would change
 * (integer-like keys first, 1.0 as 1, integers past 2^53 rounded, `__proto__` members dropped).
 * The text parsed as a JSON object, so it is one.
 */
export function mainEchoFrame(objectText: string, clientId: string, processingMs: number, nowMs: number = Date.now()): string {
  return `{"type":"echo","data":${objectText},"timestamp":${secondsJson(nowMs)},"client_id":${jsonString(clientId)},"server_processing_ms":${floatJson(round3(processingMs))}}`
}

/** `{"type":"ping"}`'s answer on /ws and /ws/health (LowerPong), its timestamp a float. */
export function lowerPongFrame(clientId: string, nowMs: number = Date.now()): string {
  return objectJson({ type: '"pong"', timestamp: secondsJson(nowMs), client_id: jsonString(clientId) })
}

/** Interval the browser client should ping at and how long it waits for PONG (SPEC section 3). */
export const CLIENT_HEARTBEAT = { ping_interval: 15, pong_timeout: 5 } as const
const PROTOCOLS = ['echo', 'fastchat']

/** The WELCOME a /ws connection gets first (SPEC section 2), as JSON.stringify writes it. */
export const welcomeObject = (clientId: string, serverTime: string): Welcome => ({
  type: 'WELCOME',
  data: { client_id: clientId, server_time: serverTime, protocols: PROTOCOLS, heartbeat: CLIENT_HEARTBEAT }
})

/** WELCOME's members after server_time: the same for every connection. */
const WELCOME_TAIL = `,"protocols":${JSON.stringify(PROTOCOLS)},"heartbeat":${JSON.stringify(CLIENT_HEARTBEAT)}}}`

/**
 * welcomeObject's JSON, from a template: every handshake of a reconnect storm makes one, and
 * stringify of the nested object is most of the greeting's cost (docs/bench.md). Byte for byte
 * JSON.stringify's output, pinned by test/protocol-main.test.ts.
 */
export function welcomeFrame(clientId: string): string {
  return `{"type":"WELCOME","data":{"client_id":${jsonString(clientId)},"server_time":${jsonString(isoNow())}${WELCOME_TAIL}`
}

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
      examples: [welcomeObject(EXAMPLE_ID, '2024-01-01T12:00:00.000Z')]
    },
    { name: 'text', schema: PlainText, examples: ['hello'], text: true },
    { name: 'pong', summary: 'answer to ping', schema: LowerPong, examples: [{ type: 'pong', timestamp: 1699564800.789, client_id: EXAMPLE_ID }] },
    {
      name: 'echo', summary: 'any other JSON object, as sent, with server time', schema: MainEcho,
      examples: [{ type: 'echo', data: { type: 'custom', data: 'test' }, timestamp: 1699564801.123, client_id: EXAMPLE_ID, server_processing_ms: 0.234 }]
    }
  ]
}
