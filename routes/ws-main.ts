// WS /ws: the JSON greeting, verbatim echo of anything that is not a JSON object, the
// lower-case ping and the echo envelope (SPEC section 2). FastChat types are checked here (HELLO
// first, then the schema) and handed to app.chat (src/chat); docs/fastchat.md has the details.
import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify'
import type { RawData } from 'ws'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Conn, OpenOptions } from '../src/transport/connections.ts'
import { CLIENT_HEARTBEAT, type LowerPong, type MainEcho, type Welcome } from '../src/protocol/main.ts'
import { checkClientMessage, errorFrame, isClientType, validationFrame } from '../src/protocol/fastchat.ts'
import { ErrorCode } from '../src/protocol/error-codes.ts'
import { isPlainObject, looksLikeJsonObject, parseJson, stringifyJson } from '../src/lib/json.ts'
import { epochSeconds, isoNow, round3 } from '../src/lib/clock.ts'
import { Serial } from '../src/lib/serial.ts'
import type { Awaitable } from '../src/lib/awaitable.ts'
import { tokenFromRequest } from '../src/auth/tokens.ts'
import { needsHello, SEND_HELLO_FIRST, type ChatService } from '../src/chat/service.ts'
import type { ChatSession } from '../src/chat/session.ts'

const BINARY_REFUSED = errorFrame(ErrorCode.VALIDATION, 'binary frames are not supported')
const SHUTTING_DOWN = 'server shutting down; resend after reconnecting'

function welcome(clientId: string): string {
  return JSON.stringify({
    type: 'WELCOME',
    data: { client_id: clientId, server_time: isoNow(), protocols: ['echo', 'fastchat'], heartbeat: CLIENT_HEARTBEAT }
  } satisfies Welcome)
}

/** SPEC section 2's dispatch order: binary, not a JSON object, FastChat, ping, echo. */
function onMessage(chat: ChatService, session: ChatSession, conn: Conn, data: RawData, isBinary: boolean): Awaitable<void> {
  // A frame whose turn in the queue comes after the server ended the connection (flood,
  // shutdown past its grace, 1011) is not handled: its reply could not reach the client, and a
  // MSG delivered now could never be acknowledged. The client resends what was not
  // acknowledged, so an unanswered MSG must also be undelivered. Frames a client sent before
  // closing on its own still count (fire and forget is its choice).
  if (conn.endedByServer) return
  if (isBinary) {
    conn.send(BINARY_REFUSED)
    return
  }
  const buf = data as Buffer
  // Read in place: plain text, the hot path, is echoed without ever becoming a string.
  if (!looksLikeJsonObject(buf)) {
    conn.send(buf) // verbatim, byte for byte
    return
  }
  const receivedAt = performance.now()
  const parsed = parseJson(buf.toString())
  if (!parsed.ok || !isPlainObject(parsed.value)) {
    conn.send(buf)
    return
  }
  const msg = parsed.value
  if (isClientType(msg.type)) {
    if (needsHello(msg.type) && !session.user) {
      conn.send(SEND_HELLO_FIRST)
      return
    }
    const checked = checkClientMessage({ ...msg, type: msg.type })
    if (!checked.ok) {
      conn.send(validationFrame(msg.type, checked.errors))
      return
    }
    return chat.dispatch(session, checked.message)
  }
  if (msg.type === 'ping') {
    conn.send(JSON.stringify({ type: 'pong', timestamp: epochSeconds(), client_id: conn.id } satisfies LowerPong))
    return
  }
  // stringifyJson: JSON nested deeper than JSON.stringify's recursion parses fine and must echo.
  conn.send(stringifyJson({
    type: 'echo',
    data: msg,
    timestamp: epochSeconds(),
    client_id: conn.id,
    server_processing_ms: round3(performance.now() - receivedAt)
  } satisfies MainEcho))
}

/**
 * A frame that arrives during the shutdown drain starts no work. A chat message is failed so
 * that its sender knows it was not delivered and resends it (same message_id) after
 * reconnecting; anything else is dropped, the connection closes with 1001 right after. A
 * client that retries a failed message at once (SPEC: retry MESSAGE_FAILED with the same id)
 * is answered for that id once: a loop of failures would only use up its retries before the
 * reconnect that lets the message through.
 */
function onDrain(session: ChatSession, failed: Set<string>, conn: Conn, data: RawData, isBinary: boolean): void {
  if (isBinary || !session.user) return
  const parsed = parseJson((data as Buffer).toString())
  if (!parsed.ok || !isPlainObject(parsed.value) || parsed.value.type !== 'MSG') return
  const checked = checkClientMessage({ ...parsed.value, type: 'MSG' })
  if (!checked.ok || checked.message.type !== 'MSG') return
  const messageId = checked.message.data.message_id ?? randomUUID()
  if (failed.has(messageId)) return
  failed.add(messageId)
  conn.send(errorFrame(ErrorCode.MESSAGE_FAILED, SHUTTING_DOWN, { message_id: messageId }))
}

/**
 * One /ws connection: its queue, its chat session, and the handlers the connection registry
 * calls, as methods. One object per socket instead of a closure per handler; an idle socket
 * holds little more than this (the logger is made when first used).
 */
class MainConnection implements OpenOptions {
  readonly surface = 'main'
  readonly prefix = 'ws_client'
  // Frames are answered one at a time, in order: chat handlers await the backplane, and a
  // later echo must not overtake an earlier HELLO_ACK. Made with the first frame.
  private serial: Serial | undefined
  session!: ChatSession
  /** message_ids the drain answered, made only while draining. */
  private drainFailed: Set<string> | undefined
  private logger: FastifyBaseLogger | undefined

  constructor(
    private readonly chat: ChatService,
    private readonly appLog: FastifyBaseLogger,
    private readonly reqId: string
  ) {}

  private get queue(): Serial {
    return (this.serial ??= new Serial())
  }

  /** The request's logger, as Fastify would have made it (a socket needs one only to report trouble). */
  get log(): FastifyBaseLogger {
    return (this.logger ??= this.appLog.child({ reqId: this.reqId }))
  }

  onMessage(conn: Conn, data: RawData, isBinary: boolean): void | Promise<void> {
    // An idle queue runs the frame at once, with no closure made for it (the echo hot path).
    if (this.queue.idle) return this.queue.follow(onMessage(this.chat, this.session, conn, data, isBinary))
    return this.queue.run(() => onMessage(this.chat, this.session, conn, data, isBinary))
  }

  /** Behind the queue, so the failure comes after the replies to frames already in flight. */
  onDrain(conn: Conn, data: RawData, isBinary: boolean): void | Promise<void> {
    return this.queue.submit(() => onDrain(this.session, (this.drainFailed ??= new Set()), conn, data, isBinary))
  }

  onClose(conn: Conn): void {
    // At once, so no delivery reaches this connection any more; the domain's cleanup waits
    // its turn behind the frames still being handled.
    const session = this.session
    session.close()
    this.queue.run(() => this.chat.disconnect(session)).catch((err) => conn.log.error({ err, client_id: conn.id }, 'chat cleanup failed'))
  }
}

const routes: FastifyPluginAsync = async (app) => {
  const greet = app.config.WS_GREETING
  const chat = app.chat
  app.get('/ws', { websocket: true }, (socket, req) => {
    const main = new MainConnection(chat, app.log, req.id)
    const conn = app.connections.add(socket, main)
    main.session = chat.session(conn, tokenFromRequest(req.headers, req.query))
    if (greet) conn.send(welcome(conn.id))
  })
}

export default routes
