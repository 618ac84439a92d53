// `/ws/health` sustained-connection heartbeat dialect (SPEC section 5).
import { Type, type Static } from '@sinclair/typebox'
import { ClientPong, EchoError, PingConfig } from './echo.ts'
import { LowerPing, LowerPong } from './main.ts'
import type { DialectDocs } from './message-doc.ts'
import { floatJson, secondsJson } from '../lib/clock.ts'
import { jsonString, objectJson } from '../lib/json.ts'

export const HealthConnected = Type.Object({
  type: Type.Literal('health_status'),
  status: Type.Literal('connected'),
  client_id: Type.String(),
  server_time: Type.Number(),
  config: Type.Composite([PingConfig, Type.Object({ expected_min_connection_duration: Type.Number() })]),
  environment: Type.Object({
    allowed_origins: Type.Array(Type.String()),
    public_base_url: Type.String(),
    ws_public_url: Type.String()
  })
}, { additionalProperties: false })
export type HealthConnected = Static<typeof HealthConnected>

export const Heartbeat = Type.Object({
  type: Type.Literal('heartbeat'),
  ping_number: Type.Integer({ minimum: 1 }),
  timestamp: Type.Number(),
  connection_age_seconds: Type.Number(),
  client_id: Type.String()
}, { additionalProperties: false })
export type Heartbeat = Static<typeof Heartbeat>

export const GetStatus = Type.Object({ type: Type.Literal('get_status') })

export const HealthStatus = Type.Object({
  type: Type.Literal('health_status'),
  status: Type.Literal('healthy'),
  connection_age_seconds: Type.Number(),
  ping_count: Type.Integer(),
  pong_count: Type.Integer(),
  timestamp: Type.Number(),
  client_id: Type.String()
}, { additionalProperties: false })
export type HealthStatus = Static<typeof HealthStatus>

// ---------------------------------------------------------------- frames (times as floats: floatJson, SPEC section 0)

export const healthConnectedFrame = (clientId: string, openedAtMs: number, config: HealthConnected['config'], environment: HealthConnected['environment']): string =>
  objectJson({ type: '"health_status"', status: '"connected"', client_id: jsonString(clientId), server_time: secondsJson(openedAtMs), config: JSON.stringify(config), environment: JSON.stringify(environment) })

export const heartbeatFrame = (pingNumber: number, nowMs: number, ageSeconds: number, clientId: string): string =>
  objectJson({ type: '"heartbeat"', ping_number: String(pingNumber), timestamp: secondsJson(nowMs), connection_age_seconds: floatJson(ageSeconds), client_id: jsonString(clientId) })

export const healthStatusFrame = (ageSeconds: number, pingCount: number, pongCount: number, nowMs: number, clientId: string): string =>
  objectJson({ type: '"health_status"', status: '"healthy"', connection_age_seconds: floatJson(ageSeconds), ping_count: String(pingCount), pong_count: String(pongCount), timestamp: secondsJson(nowMs), client_id: jsonString(clientId) })

// ---------------------------------------------------------------- docs (AsyncAPI)

const EXAMPLE_ID = 'health_client_1699564800456_67890'

export const healthDocs: DialectDocs = {
  receive: [
    { name: 'get_status', summary: 'ask for the connection\'s counters', schema: GetStatus, examples: [{ type: 'get_status' }] },
    { name: 'ping', summary: 'application ping; answered with pong', schema: LowerPing, examples: [{ type: 'ping' }] },
    { name: 'pong', summary: 'counted in pong_count', schema: ClientPong, examples: [{ type: 'pong' }] }
  ],
  send: [
    {
      name: 'health_status_connected', summary: 'first frame: the heartbeat settings and public URLs', schema: HealthConnected,
      examples: [{
        type: 'health_status', status: 'connected', client_id: EXAMPLE_ID, server_time: 1699564800.456,
        config: { ping_interval: 30, ping_timeout: 10, expected_min_connection_duration: 30 },
        environment: { allowed_origins: ['http://localhost:3000'], public_base_url: 'http://localhost:8000', ws_public_url: 'ws://localhost:8000/ws' }
      }]
    },
    { name: 'heartbeat', summary: 'every WS_PING_INTERVAL seconds', schema: Heartbeat, examples: [{ type: 'heartbeat', ping_number: 1, timestamp: 1699564830.456, connection_age_seconds: 30, client_id: EXAMPLE_ID }] },
    {
      name: 'health_status_healthy', summary: 'answer to get_status', schema: HealthStatus,
      examples: [{ type: 'health_status', status: 'healthy', connection_age_seconds: 65.2, ping_count: 2, pong_count: 0, timestamp: 1699564865.656, client_id: EXAMPLE_ID }]
    },
    { name: 'pong', summary: 'answer to ping', schema: LowerPong, examples: [{ type: 'pong', timestamp: 1699564800.789, client_id: EXAMPLE_ID }] },
    { name: 'error', summary: 'a frame that could not be handled; the connection stays open', schema: EchoError, examples: [{ type: 'error', message: 'unknown message type' }] }
  ]
}
