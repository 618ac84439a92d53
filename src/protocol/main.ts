// `/ws` greeting and echo dialect (SPEC section 2): the WELCOME greeting, `{"type":"ping"}` →
// pong, and the echo envelope for any other JSON object. FastChat lives in fastchat.ts.
import { Type, type Static } from '@sinclair/typebox'

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

/** Interval the browser client should ping at and how long it waits for PONG (SPEC section 3). */
export const CLIENT_HEARTBEAT = { ping_interval: 15, pong_timeout: 5 } as const
