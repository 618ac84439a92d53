// WS /ws/echo (SPEC section 4): the operators' diagnostic echo — welcome, echo envelope for any
// JSON, echo_raw for other text, client pongs counted, server_ping on every heartbeat — and, on
// the same socket, the typed {action, payload} dialect served by a consumer (src/consumers/).
import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify'
import type { RawData } from 'ws'
import type { Conn, OpenOptions } from '../src/transport/connections.ts'
import { echoEnvelope, type EchoError, type EchoRaw, type EchoWelcome, type ServerPing } from '../src/protocol/echo.ts'
import { ActionSession, isActionFrame, type Consumer, type SessionIO } from '../src/protocol/action.ts'
import { echoConsumer } from '../src/consumers/echo.ts'
import { tokenFromRequest } from '../src/auth/tokens.ts'
import { isPlainObject, parseJson, type Parsed } from '../src/lib/json.ts'
import { epochSeconds } from '../src/lib/clock.ts'

const BINARY_REFUSED = JSON.stringify({ type: 'error', message: 'binary frames are not supported' } satisfies EchoError)

export interface EchoRouteOptions {
  /** The consumer serving the action dialect (tests mount their own). */
  consumer?: Consumer
}

/**
 * One /ws/echo socket: the connection registry's handlers and the consumer session's IO in one
 * object, whose methods are called with it (`Conn` calls handlers as methods). No closure is
 * made per socket for them, and a frame finds its session without a lookup.
 */
class EchoConnection implements OpenOptions, SessionIO {
  readonly surface = 'echo'
  readonly prefix = 'echo_client'
  readonly session: ActionSession
  /** Set right after the registry opened the socket, before any frame can arrive. */
  conn!: Conn
  /** The client id as a JSON string, written into every envelope. */
  private quotedId = ''

  constructor(readonly log: FastifyBaseLogger, consumer: Consumer, sendCompletion: boolean) {
    this.session = new ActionSession(consumer, this, sendCompletion)
  }

  opened(conn: Conn): void {
    this.conn = conn
    this.quotedId = JSON.stringify(conn.id)
  }

  send(frame: string): void {
    this.conn.send(frame)
  }

  close(code: number, reason: string): void {
    this.conn.close(code, reason)
  }

  onMessage(conn: Conn, data: RawData, isBinary: boolean): void | Promise<void> {
    const session = this.session
    if (isBinary) return session.submit(() => void conn.send(BINARY_REFUSED))
    const now = Date.now()
    const text = (data as Buffer).toString()
    const parsed = parseJson(text)
    if (parsed.ok && isPlainObject(parsed.value) && isActionFrame(parsed.value)) return session.handle(parsed.value)
    // Smoke-dialect frames keep their place behind queued action work; with nothing queued
    // the reply is made at once, without a closure for it.
    if (session.idle) return session.follow(this.smoke(conn, text, parsed, now))
    return session.submit(() => this.smoke(conn, text, parsed, now))
  }

  onBeat(conn: Conn): void {
    conn.sendDroppable(JSON.stringify({ type: 'server_ping', timestamp: epochSeconds(), client_id: conn.id } satisfies ServerPing))
  }

  onClose(): void {
    this.session.close()
  }

  private smoke(conn: Conn, text: string, parsed: Parsed, now: number): void {
    if (!parsed.ok) {
      conn.send(JSON.stringify({ type: 'echo_raw', data: text, server_timestamp: epochSeconds(now), client_id: conn.id } satisfies EchoRaw))
      return
    }
    if (isPlainObject(parsed.value) && parsed.value.type === 'pong') {
      conn.appPongs++ // the answer to server_ping: counted, never answered
      return
    }
    conn.send(echoEnvelope(parsed.value, now, this.quotedId, now - conn.openedAt))
  }
}

const routes: FastifyPluginAsync<EchoRouteOptions> = async (app, opts) => {
  const config = { ping_interval: app.config.WS_PING_INTERVAL, ping_timeout: app.config.WS_PING_TIMEOUT }
  const consumer = opts.consumer ?? echoConsumer

  app.get('/ws/echo', { websocket: true }, (socket, req) => {
    const echo = new EchoConnection(req.log, consumer, app.config.ECHO_SEND_COMPLETION)
    const conn = app.connections.add(socket, echo)
    echo.opened(conn)
    conn.send(JSON.stringify({
      type: 'welcome', endpoint: '/ws/echo', client_id: conn.id, server_time: epochSeconds(conn.openedAt), config
    } satisfies EchoWelcome))
    const token = tokenFromRequest(req.headers, req.query)
    if (token !== undefined) echo.session.authenticate(() => app.auth.verify(token))
  })
}

export default routes
