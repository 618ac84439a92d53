// WS /ws/health: the sustained-connection heartbeat (SPEC section 5). Proves a deployment holds
// a socket open through its proxy: a heartbeat every WS_PING_INTERVAL, get_status on demand.
import type { FastifyPluginAsync } from 'fastify'
import type { RawData } from 'ws'
import type { Conn } from '../src/transport/connections.ts'
import type { HealthConnected, HealthStatus, Heartbeat } from '../src/protocol/health.ts'
import type { EchoError } from '../src/protocol/echo.ts'
import type { LowerPong } from '../src/protocol/main.ts'
import { isPlainObject, parseJson } from '../src/lib/json.ts'
import { epochSeconds, round3 } from '../src/lib/clock.ts'
import { publicUrls } from '../src/lib/public-urls.ts'

const ageSeconds = (conn: Conn, now: number) => round3((now - conn.openedAt) / 1000)
const errorFrame = (message: string) => JSON.stringify({ type: 'error', message } satisfies EchoError)

const routes: FastifyPluginAsync = async (app) => {
  const c = app.config
  const config = { ping_interval: c.WS_PING_INTERVAL, ping_timeout: c.WS_PING_TIMEOUT, expected_min_connection_duration: c.WS_PING_INTERVAL }

  app.get('/ws/health', { websocket: true }, (socket, req) => {
    function onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
      if (isBinary) {
        conn.send(errorFrame('binary frames are not supported'))
        return
      }
      const parsed = parseJson((data as Buffer).toString())
      if (!parsed.ok) return // not JSON: no reply, the connection stays healthy
      const msg = parsed.value
      const type = isPlainObject(msg) && typeof msg.type === 'string' ? msg.type : undefined
      const now = Date.now()
      switch (type) {
        case 'get_status':
          conn.send(JSON.stringify({
            type: 'health_status', status: 'healthy', connection_age_seconds: ageSeconds(conn, now),
            ping_count: conn.pingsSent, pong_count: conn.appPongs, timestamp: epochSeconds(now), client_id: conn.id
          } satisfies HealthStatus))
          return
        case 'ping':
          conn.send(JSON.stringify({ type: 'pong', timestamp: epochSeconds(now), client_id: conn.id } satisfies LowerPong))
          return
        case 'pong':
          conn.appPongs++
          return
        default:
          conn.send(errorFrame(type === undefined ? 'expected a JSON object with a "type"' : 'unknown message type'))
      }
    }

    function onBeat(conn: Conn): void {
      const now = Date.now()
      conn.sendDroppable(JSON.stringify({
        type: 'heartbeat', ping_number: conn.pingsSent, timestamp: epochSeconds(now),
        connection_age_seconds: ageSeconds(conn, now), client_id: conn.id
      } satisfies Heartbeat))
    }

    const conn = app.connections.add(socket, { surface: 'health', prefix: 'health_client', log: req.log, onMessage, onBeat })
    const urls = publicUrls(c, app.server.address())
    conn.send(JSON.stringify({
      type: 'health_status', status: 'connected', client_id: conn.id, server_time: epochSeconds(conn.openedAt), config,
      environment: { allowed_origins: c.allowAnyOrigin ? ['*', ...c.allowedOrigins] : c.allowedOrigins, public_base_url: urls.base, ws_public_url: urls.ws }
    } satisfies HealthConnected))
  })
}

export default routes
