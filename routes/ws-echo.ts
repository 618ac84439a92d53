// WS /ws/echo (SPEC section 4): the operators' diagnostic echo — welcome, echo envelope for any
// JSON, echo_raw for other text, client pongs counted, server_ping on every heartbeat — and, on
// the same socket, the typed {action, payload} dialect served by a consumer (src/consumers/).
import type { FastifyPluginAsync } from 'fastify'
import type { Conn, Handler, SurfaceOptions } from '../src/transport/connections.ts'
import { echoEnvelope, echoRawFrame, echoWelcomeFrame, serverPingFrame, type EchoError } from '../src/protocol/echo.ts'
import { isActionFrame } from '../src/protocol/action.ts'
import type { Consumer } from '../src/consumers/consumer.ts'
import { ActionSession } from '../src/consumers/session.ts'
import { echoConsumer } from '../src/consumers/echo.ts'
import { tokenFromRequest, type VerifiedUser } from '../src/auth/tokens.ts'
import { isPlainObject, parseJson } from '../src/lib/json.ts'
import type { UpgradeRequest } from '../src/transport/direct-upgrade.ts'

const SURFACE: SurfaceOptions = {
  surface: 'echo',
  prefix: 'echo_client',
  binary: { frame: JSON.stringify({ type: 'error', message: 'binary frames are not supported' } satisfies EchoError), label: 'error' }
}

export interface EchoRouteOptions {
  /** The consumer serving the action dialect (tests mount their own). */
  consumer?: Consumer
}

/** One /ws/echo socket: the smoke dialect answered here, action frames handed to its session. */
class EchoConnection implements Handler {
  readonly session: ActionSession
  /** The client id as a JSON string, written into every envelope. */
  private readonly quotedId: string
  /** `{"type":"pong"}` answers to server_ping: counted, never answered. */
  pongs = 0

  constructor(private readonly conn: Conn, consumer: Consumer, opts: { sendCompletion: boolean; welcome: string; verify?: () => Promise<VerifiedUser | null> }) {
    this.session = new ActionSession(consumer, conn, opts.sendCompletion)
    this.quotedId = JSON.stringify(conn.id)
    conn.send(opts.welcome, 'welcome')
    // A handshake token is verified before any frame is handled: the first frame waits its turn.
    const verify = opts.verify
    if (verify) conn.run(() => this.session.authenticate(verify))
  }

  message(buf: Buffer): void | Promise<void> {
    const conn = this.conn
    const now = Date.now()
    const text = buf.toString()
    const parsed = parseJson(text)
    if (!parsed.ok) {
      conn.receivedAs('text')
      conn.send(echoRawFrame(text, now, conn.id), 'echo_raw')
      return
    }
    const msg = parsed.value
    if (isPlainObject(msg)) {
      if (isActionFrame(msg)) {
        conn.receivedAs(typeof msg.action === 'string' ? `action:${msg.action}` : 'other')
        return this.session.handle(msg)
      }
      if (msg.type === 'pong') {
        conn.receivedAs('pong')
        this.pongs++
        return
      }
      if (typeof msg.type === 'string') conn.receivedAs(msg.type)
    }
    conn.send(echoEnvelope(text.trim(), now, this.quotedId, now - conn.openedAt), 'echo')
  }

  beat(): void {
    const conn = this.conn
    conn.sendDroppable(serverPingFrame(conn.id), 'server_ping')
  }

  closed(): void {
    this.session.close()
  }
}

const routes: FastifyPluginAsync<EchoRouteOptions> = async (app, opts) => {
  const config = { ping_interval: app.config.WS_PING_INTERVAL, ping_timeout: app.config.WS_PING_TIMEOUT }
  const consumer = opts.consumer ?? echoConsumer
  const sendCompletion = app.config.ECHO_SEND_COMPLETION

  app.get('/ws/echo', { websocket: true, config: { directUpgrade: true } }, (socket, req: UpgradeRequest) => {
    const token = tokenFromRequest(req.headers, req.query)
    const verify = token === undefined ? undefined : () => app.auth.verify(token)
    app.connections.add(socket, SURFACE, req.id, (conn) => new EchoConnection(conn, consumer, {
      sendCompletion,
      verify,
      welcome: echoWelcomeFrame(conn.id, conn.openedAt, config)
    }))
  })
}

export default routes
