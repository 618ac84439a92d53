// `/ws/echo` smoke-test dialect (SPEC section 4, first half): welcome, echo envelope, echo_raw,
// server_ping. The action dialect on the same socket lives in action.ts.
import { Type, type Static } from '@sinclair/typebox'
import type { DialectDocs } from './message-doc.ts'
import { floatJson, round3, secondsJson } from '../lib/clock.ts'
import { jsonString, objectJson } from '../lib/json.ts'

const PingConfig = Type.Object({ ping_interval: Type.Number(), ping_timeout: Type.Number() })

export const EchoWelcome = Type.Object({
  type: Type.Literal('welcome'),
  endpoint: Type.Literal('/ws/echo'),
  client_id: Type.String(),
  server_time: Type.Number(),
  config: PingConfig
}, { additionalProperties: false })
export type EchoWelcome = Static<typeof EchoWelcome>

export const EchoEnvelope = Type.Object({
  type: Type.Literal('echo'),
  original: Type.Unknown(),
  server_timestamp: Type.Number(),
  client_id: Type.String(),
  latency_info: Type.Object({ received_at: Type.Number(), connection_age_ms: Type.Number() })
}, { additionalProperties: false })
export type EchoEnvelope = Static<typeof EchoEnvelope>

/**
 * An EchoEnvelope around `originalJson`, the frame's own JSON text (trimmed): "the parsed JSON,
 * unchanged" (SPEC 4), member order and numbers included, which a parse and stringify would not
 * keep (integer-like keys first, 1.0 as 1, integers past 2^53 rounded, `__proto__` dropped); and
 * deeply nested JSON comes back as it came. Written without building the wrapper per frame.
 */
export function echoEnvelope(originalJson: string, nowMs: number, quotedClientId: string, ageMs: number): string {
  const at = secondsJson(nowMs)
  return `{"type":"echo","original":${originalJson},"server_timestamp":${at},"client_id":${quotedClientId},"latency_info":{"received_at":${at},"connection_age_ms":${floatJson(round3(ageMs))}}}`
}

/** The smoke dialect's frames of our own, their times floats (floatJson: SPEC section 0). */
export const echoWelcomeFrame = (clientId: string, openedAtMs: number, config: Static<typeof PingConfig>): string =>
  objectJson({ type: '"welcome"', endpoint: '"/ws/echo"', client_id: jsonString(clientId), server_time: secondsJson(openedAtMs), config: JSON.stringify(config) })
export const echoRawFrame = (text: string, nowMs: number, clientId: string): string =>
  objectJson({ type: '"echo_raw"', data: jsonString(text), server_timestamp: secondsJson(nowMs), client_id: jsonString(clientId) })
export const serverPingFrame = (clientId: string, nowMs: number = Date.now()): string =>
  objectJson({ type: '"server_ping"', timestamp: secondsJson(nowMs), client_id: jsonString(clientId) })

export const EchoRaw = Type.Object({
  type: Type.Literal('echo_raw'),
  data: Type.String(),
  server_timestamp: Type.Number(),
  client_id: Type.String()
}, { additionalProperties: false })
export type EchoRaw = Static<typeof EchoRaw>

export const ServerPing = Type.Object({
  type: Type.Literal('server_ping'),
  timestamp: Type.Number(),
  client_id: Type.String()
}, { additionalProperties: false })
export type ServerPing = Static<typeof ServerPing>

export const ClientPong = Type.Object({ type: Type.Literal('pong') }, { description: 'answer to server_ping; counted, never answered' })

export const EchoError = Type.Object({ type: Type.Literal('error'), message: Type.String() }, { additionalProperties: false })
export type EchoError = Static<typeof EchoError>

export { PingConfig }

// ---------------------------------------------------------------- docs (AsyncAPI)

const EXAMPLE_ID = 'echo_client_1699564800123_12345'
const AnyJson = Type.Unknown({ description: 'any JSON value without an `action` key; answered with the echo envelope' })

/** The smoke-test half of /ws/echo for the AsyncAPI document (the action dialect adds its own). */
export const echoDocs: DialectDocs = {
  receive: [
    { name: 'json', summary: 'any JSON value; answered with echo', schema: AnyJson, examples: [{ type: 'test', data: 'hello' }] },
    { name: 'text', summary: 'text that is not JSON; answered with echo_raw', schema: Type.String({ description: 'text that is not JSON; answered with echo_raw' }), examples: ['plain text message'], text: true },
    { name: 'pong', summary: 'answer to server_ping (optional)', schema: ClientPong, examples: [{ type: 'pong' }] }
  ],
  send: [
    { name: 'welcome', summary: 'first frame: the client id and heartbeat settings', schema: EchoWelcome, examples: [{ type: 'welcome', endpoint: '/ws/echo', client_id: EXAMPLE_ID, server_time: 1699564800.123, config: { ping_interval: 30, ping_timeout: 10 } }] },
    {
      name: 'echo', summary: 'the JSON sent, with server time and latency', schema: EchoEnvelope,
      examples: [{ type: 'echo', original: { type: 'test', data: 'hello' }, server_timestamp: 1699564801.234, client_id: EXAMPLE_ID, latency_info: { received_at: 1699564801.234, connection_age_ms: 1111.5 } }]
    },
    { name: 'echo_raw', summary: 'the text sent', schema: EchoRaw, examples: [{ type: 'echo_raw', data: 'plain text message', server_timestamp: 1699564801.5, client_id: EXAMPLE_ID }] },
    { name: 'server_ping', summary: 'every heartbeat', schema: ServerPing, examples: [{ type: 'server_ping', timestamp: 1699564830.123, client_id: EXAMPLE_ID }] },
    { name: 'error', summary: 'a frame that could not be handled; the connection stays open', schema: EchoError, examples: [{ type: 'error', message: 'binary frames are not supported' }] }
  ]
}
