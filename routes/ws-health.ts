// WS /ws/health: the sustained-connection heartbeat (SPEC section 5). Proves a deployment holds
// a socket open through its proxy: a heartbeat every WS_PING_INTERVAL, get_status on demand.
import type { FastifyPluginAsync } from 'fastify'
import type { Conn, Handler, SurfaceOptions } from '../src/transport/connections.ts'
import { healthConnectedFrame, healthStatusFrame, heartbeatFrame } from '../src/protocol/health.ts'
import type { EchoError } from '../src/protocol/echo.ts'
import { lowerPongFrame } from '../src/protocol/main.ts'
import { isPlainObject, parseJson } from '../src/lib/json.ts'
import { round3 } from '../src/lib/clock.ts'
import { publicUrls } from '../src/lib/public-urls.ts'
import type { UpgradeRequest } from '../src/transport/direct-upgrade.ts'

const healthError = (message: string) => JSON.stringify({ type: 'error', message } satisfies EchoError)

const SURFACE: SurfaceOptions = {
  surface: 'health',
  prefix: 'health_client',
  binary: { frame: healthError('binary frames are not supported'), label: 'error' }
}

const ageSeconds = (conn: Conn, now: number) => round3((now - conn.openedAt) / 1000)

/** One /ws/health socket: answers get_status and ping, counts the client's pongs, beats. */
export class HealthConnection implements Handler {
  /** `{"type":"pong"}` answers counted, reported by get_status. */
  private pongs = 0
  /**
   * Heartbeats sent (SPEC: what ping_count counts, and each one's ping_number). Not the protocol
   * pings: a heartbeat is dropped for a client that does not read, and is then not counted.
   */
  private beats = 0

  constructor(private readonly conn: Conn) {}

  message(text: Buffer): void {
    const conn = this.conn
    const parsed = parseJson(text.toString())
    if (!parsed.ok) return // not JSON: no reply, the connection stays healthy
    const msg = parsed.value
    const type = isPlainObject(msg) && typeof msg.type === 'string' ? msg.type : undefined
    const now = Date.now()
    switch (type) {
      case 'get_status':
        conn.receivedAs('get_status')
        conn.send(healthStatusFrame(ageSeconds(conn, now), this.beats, this.pongs, now, conn.id), 'health_status')
        return
      case 'ping':
        conn.receivedAs('ping')
        conn.send(lowerPongFrame(conn.id, now), 'pong')
        return
      case 'pong':
        conn.receivedAs('pong')
        this.pongs++
        return
      default:
        conn.send(healthError(type === undefined ? 'expected a JSON object with a "type"' : 'unknown message type'), 'error')
    }
  }

  beat(): void {
    const conn = this.conn
    const now = Date.now()
    if (conn.sendDroppable(heartbeatFrame(this.beats + 1, now, ageSeconds(conn, now), conn.id), 'heartbeat')) this.beats++
  }
}

const routes: FastifyPluginAsync = async (app) => {
  const c = app.config
  const config = { ping_interval: c.WS_PING_INTERVAL, ping_timeout: c.WS_PING_TIMEOUT, expected_min_connection_duration: c.WS_PING_INTERVAL }

  app.get('/ws/health', { websocket: true, config: { directUpgrade: true } }, (socket, req: UpgradeRequest) => {
    const conn = app.connections.add(socket, SURFACE, req.id, (conn) => new HealthConnection(conn))
    const urls = publicUrls(c, app.server.address())
    conn.send(healthConnectedFrame(conn.id, conn.openedAt, config, {
      allowed_origins: c.allowAnyOrigin ? ['*', ...c.allowedOrigins] : c.allowedOrigins, public_base_url: urls.base, ws_public_url: urls.ws
    }), 'health_status')
  })
}

export default routes
