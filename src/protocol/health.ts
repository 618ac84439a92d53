// `/ws/health` sustained-connection heartbeat dialect (SPEC section 5).
import { Type, type Static } from '@sinclair/typebox'
import { PingConfig } from './echo.ts'

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
