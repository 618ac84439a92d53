// `/ws/echo` smoke-test dialect (SPEC section 4, first half): welcome, echo envelope, echo_raw,
// server_ping. The action dialect on the same socket lives in action.ts.
import { Type, type Static } from '@sinclair/typebox'

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
