// WS /ws/echo: the operators' diagnostic echo (SPEC section 4, smoke-test half): welcome,
// echo envelope for any JSON, echo_raw for other text, client pongs counted, server_ping on
// every heartbeat.
import type { FastifyPluginAsync } from 'fastify'
import type { RawData } from 'ws'
import type { Conn } from '../src/transport/connections.ts'
import type { EchoEnvelope, EchoError, EchoRaw, EchoWelcome, ServerPing } from '../src/protocol/echo.ts'
import { isPlainObject, parseJson } from '../src/lib/json.ts'
import { epochSeconds, round3 } from '../src/lib/clock.ts'

const BINARY_REFUSED = JSON.stringify({ type: 'error', message: 'binary frames are not supported' } satisfies EchoError)

const routes: FastifyPluginAsync = async (app) => {
  const config = { ping_interval: app.config.WS_PING_INTERVAL, ping_timeout: app.config.WS_PING_TIMEOUT }

  function onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    const now = Date.now()
    if (isBinary) {
      conn.send(BINARY_REFUSED)
      return
    }
    const text = (data as Buffer).toString()
    const parsed = parseJson(text)
    if (!parsed.ok) {
      conn.send(JSON.stringify({ type: 'echo_raw', data: text, server_timestamp: epochSeconds(now), client_id: conn.id } satisfies EchoRaw))
      return
    }
    if (isPlainObject(parsed.value) && parsed.value.type === 'pong') {
      conn.appPongs++ // the answer to server_ping: counted, never answered
      return
    }
    conn.send(JSON.stringify({
      type: 'echo',
      original: parsed.value,
      server_timestamp: epochSeconds(now),
      client_id: conn.id,
      latency_info: { received_at: epochSeconds(now), connection_age_ms: round3(now - conn.openedAt) }
    } satisfies EchoEnvelope))
  }

  function onBeat(conn: Conn): void {
    conn.sendDroppable(JSON.stringify({ type: 'server_ping', timestamp: epochSeconds(), client_id: conn.id } satisfies ServerPing))
  }

  app.get('/ws/echo', { websocket: true }, (socket, req) => {
    const conn = app.connections.add(socket, { surface: 'echo', prefix: 'echo_client', log: req.log, onMessage, onBeat })
    conn.send(JSON.stringify({
      type: 'welcome', endpoint: '/ws/echo', client_id: conn.id, server_time: epochSeconds(conn.openedAt), config
    } satisfies EchoWelcome))
  })
}

export default routes
