// WS /ws: the JSON greeting, verbatim echo of anything that is not a JSON object, the
// lower-case ping and the echo envelope (SPEC section 2). FastChat types are checked here (HELLO
// first, then the schema) and handed to app.chat (src/chat); docs/fastchat.md has the details.
import type { FastifyPluginAsync } from 'fastify'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Conn, Handler, SurfaceOptions } from '../src/transport/connections.ts'
import { CLIENT_HEARTBEAT, type LowerPong, type MainEcho, type Welcome } from '../src/protocol/main.ts'
import { checkClientMessage, errorFrame, isClientType, validationFrame } from '../src/protocol/fastchat.ts'
import { ErrorCode } from '../src/protocol/error-codes.ts'
import { isPlainObject, looksLikeJsonObject, parseJson, stringifyJson } from '../src/lib/json.ts'
import { epochSeconds, isoNow, round3 } from '../src/lib/clock.ts'
import type { Awaitable } from '../src/lib/awaitable.ts'
import { tokenFromRequest } from '../src/auth/tokens.ts'
import { needsHello, SEND_HELLO_FIRST, type ChatService } from '../src/chat/service.ts'
import type { ChatSession } from '../src/chat/session.ts'

const SHUTTING_DOWN = 'server shutting down; resend after reconnecting'

function welcome(clientId: string): string {
  return JSON.stringify({
    type: 'WELCOME',
    data: { client_id: clientId, server_time: isoNow(), protocols: ['echo', 'fastchat'], heartbeat: CLIENT_HEARTBEAT }
  } satisfies Welcome)
}

const SURFACE: SurfaceOptions = {
  surface: 'main',
  prefix: 'ws_client',
  binary: { frame: errorFrame(ErrorCode.VALIDATION, 'binary frames are not supported'), label: 'ERROR', errorCode: ErrorCode.VALIDATION }
}

/**
 * One /ws connection: its chat session and the handler the transport calls for each frame, in
 * order (chat handlers may await the backplane, and a later echo must not overtake an earlier
 * HELLO_ACK). One object per socket; an idle socket holds little more than this.
 */
class MainConnection implements Handler {
  readonly session: ChatSession
  /** message_ids the drain answered, made only while draining. */
  private drainFailed: Set<string> | undefined

  constructor(
    private readonly conn: Conn,
    private readonly chat: ChatService,
    handshakeToken: string | undefined
  ) {
    this.session = chat.session(conn, handshakeToken)
  }

  /** SPEC section 2's dispatch order: not a JSON object, FastChat, ping, echo. */
  message(buf: Buffer): Awaitable<void> {
    const conn = this.conn
    // Read in place: plain text, the hot path, is echoed without ever becoming a string.
    if (!looksLikeJsonObject(buf)) {
      conn.receivedAs('text')
      conn.send(buf, 'raw') // verbatim, byte for byte
      return
    }
    const receivedAt = performance.now()
    const parsed = parseJson(buf.toString())
    if (!parsed.ok || !isPlainObject(parsed.value)) {
      conn.receivedAs('text')
      conn.send(buf, 'raw')
      return
    }
    const msg = parsed.value
    if (isClientType(msg.type)) {
      conn.receivedAs(msg.type)
      if (needsHello(msg.type) && !this.session.user) {
        conn.send(SEND_HELLO_FIRST, 'ERROR', ErrorCode.UNAUTHORIZED)
        return
      }
      const checked = checkClientMessage({ ...msg, type: msg.type })
      if (!checked.ok) {
        conn.send(validationFrame(msg.type, checked.errors), 'ERROR', ErrorCode.VALIDATION)
        return
      }
      return this.chat.dispatch(this.session, checked.message)
    }
    if (msg.type === 'ping') {
      conn.receivedAs('ping')
      conn.send(JSON.stringify({ type: 'pong', timestamp: epochSeconds(), client_id: conn.id } satisfies LowerPong), 'pong')
      return
    }
    // stringifyJson: JSON nested deeper than JSON.stringify's recursion parses fine and must echo.
    conn.send(stringifyJson({
      type: 'echo',
      data: msg,
      timestamp: epochSeconds(),
      client_id: conn.id,
      server_processing_ms: round3(performance.now() - receivedAt)
    } satisfies MainEcho), 'echo')
  }

  /**
   * A frame that arrives during the shutdown drain starts no work. A chat message is failed so
   * that its sender knows it was not delivered and resends it (same message_id) after
   * reconnecting; anything else is dropped, the connection closes with 1001 right after. A
   * client that retries a failed message at once (SPEC: retry MESSAGE_FAILED with the same id)
   * is answered for that id once: a loop of failures would only use up its retries before the
   * reconnect that lets the message through.
   */
  drain(buf: Buffer): void {
    if (!this.session.user) return
    const parsed = parseJson(buf.toString())
    if (!parsed.ok || !isPlainObject(parsed.value) || parsed.value.type !== 'MSG') return
    this.conn.receivedAs('MSG')
    const checked = checkClientMessage({ ...parsed.value, type: 'MSG' })
    if (!checked.ok || checked.message.type !== 'MSG') return
    const messageId = checked.message.data.message_id ?? randomUUID()
    const failed = (this.drainFailed ??= new Set())
    if (failed.has(messageId)) return
    failed.add(messageId)
    this.conn.send(errorFrame(ErrorCode.MESSAGE_FAILED, SHUTTING_DOWN, { message_id: messageId }), 'ERROR', ErrorCode.MESSAGE_FAILED)
  }

  closed(): void {
    // At once, so no delivery reaches this connection any more; the domain's cleanup waits
    // its turn behind the frames still being handled.
    const session = this.session
    session.close()
    this.conn.run(() => this.chat.disconnect(session))
  }
}

const routes: FastifyPluginAsync = async (app) => {
  const greet = app.config.WS_GREETING
  const chat = app.chat
  app.get('/ws', { websocket: true }, (socket, req) => {
    const token = tokenFromRequest(req.headers, req.query)
    const conn = app.connections.add(socket, SURFACE, req.id, (conn) => new MainConnection(conn, chat, token))
    if (greet) conn.send(welcome(conn.id), 'WELCOME')
  })
}

export default routes
