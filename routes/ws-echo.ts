// WS /ws/echo (SPEC section 4): the operators' diagnostic echo — welcome, echo envelope for any
// JSON, echo_raw for other text, client pongs counted, server_ping on every heartbeat — and, on
// the same socket, the typed {action, payload} dialect served by a consumer (src/consumers/).
import type { FastifyPluginAsync } from 'fastify'
import type { RawData } from 'ws'
import type { Conn } from '../src/transport/connections.ts'
import type { EchoEnvelope, EchoError, EchoRaw, EchoWelcome, ServerPing } from '../src/protocol/echo.ts'
import { ActionSession, isActionFrame, type Consumer } from '../src/protocol/action.ts'
import { echoConsumer } from '../src/consumers/echo.ts'
import { tokenFromRequest } from '../src/auth/tokens.ts'
import { isPlainObject, parseJson, stringifyJson, type Parsed } from '../src/lib/json.ts'
import { epochSeconds, round3 } from '../src/lib/clock.ts'

const BINARY_REFUSED = JSON.stringify({ type: 'error', message: 'binary frames are not supported' } satisfies EchoError)

export interface EchoRouteOptions {
  /** The consumer serving the action dialect (tests mount their own). */
  consumer?: Consumer
}

const routes: FastifyPluginAsync<EchoRouteOptions> = async (app, opts) => {
  const config = { ping_interval: app.config.WS_PING_INTERVAL, ping_timeout: app.config.WS_PING_TIMEOUT }
  const consumer = opts.consumer ?? echoConsumer
  const sessions = new WeakMap<Conn, ActionSession>()

  function onMessage(conn: Conn, data: RawData, isBinary: boolean): void | Promise<void> {
    const session = sessions.get(conn)!
    const now = Date.now()
    if (isBinary) return session.submit(() => void conn.send(BINARY_REFUSED))
    const text = (data as Buffer).toString()
    const parsed = parseJson(text)
    if (parsed.ok && isPlainObject(parsed.value) && isActionFrame(parsed.value)) return session.handle(parsed.value)
    // Smoke-dialect frames keep their place behind queued action work.
    return session.submit(() => smoke(conn, text, parsed, now))
  }

  function smoke(conn: Conn, text: string, parsed: Parsed, now: number): void {
    if (!parsed.ok) {
      conn.send(JSON.stringify({ type: 'echo_raw', data: text, server_timestamp: epochSeconds(now), client_id: conn.id } satisfies EchoRaw))
      return
    }
    if (isPlainObject(parsed.value) && parsed.value.type === 'pong') {
      conn.appPongs++ // the answer to server_ping: counted, never answered
      return
    }
    // stringifyJson: "deeply nested JSON comes back unchanged" (SPEC 4), deeper than V8's stringify recurses.
    conn.send(stringifyJson({
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
    const conn = app.connections.add(socket, {
      surface: 'echo', prefix: 'echo_client', log: req.log, onMessage, onBeat,
      onClose: (c) => sessions.get(c)?.close()
    })
    const session = new ActionSession(consumer, {
      send: (frame) => conn.send(frame),
      close: (code, reason) => conn.close(code, reason),
      log: conn.log
    }, app.config.ECHO_SEND_COMPLETION)
    sessions.set(conn, session)
    conn.send(JSON.stringify({
      type: 'welcome', endpoint: '/ws/echo', client_id: conn.id, server_time: epochSeconds(conn.openedAt), config
    } satisfies EchoWelcome))
    const token = tokenFromRequest(req.headers, req.query)
    if (token !== undefined) session.authenticate(() => app.auth.verify(token))
  })
}

export default routes
