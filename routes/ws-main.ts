// WS /ws: the JSON greeting, verbatim echo of anything that is not a JSON object, the
// lower-case ping and the echo envelope (SPEC section 2). FastChat types are checked here (HELLO
// first, then the schema) and handed to app.chat (src/chat); docs/fastchat.md has the details.
import type { FastifyPluginAsync } from 'fastify'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Conn, Handler, SurfaceOptions } from '../src/transport/connections.ts'
import { lowerPongFrame, mainEchoFrame, welcomeFrame } from '../src/protocol/main.ts'
import { checkClientMessage, errorFrame, isClientType, validationFrame, type ClientType } from '../src/protocol/fastchat.ts'
import { envelopeFlat, isFlatHello } from '../src/protocol/fastchat-flat.ts'
import { ErrorCode } from '../src/protocol/error-codes.ts'
import { isPlainObject, looksLikeJsonObject, parseJson } from '../src/lib/json.ts'
import type { Awaitable } from '../src/lib/awaitable.ts'
import { tokenFromRequest } from '../src/auth/tokens.ts'
import { needsHello, SEND_HELLO_FIRST, type ChatService } from '../src/chat/service.ts'
import type { ChatSession, Identified } from '../src/chat/session.ts'
import type { UpgradeRequest } from '../src/transport/direct-upgrade.ts'

const SHUTTING_DOWN = 'server shutting down; resend after reconnecting'
/** What a PING without `data` means, in either dialect (SPEC section 10): made per frame, so nothing is shared. */
const emptyPing = () => ({ type: 'PING' as const, data: {} })

/** A parsed frame whose type is a FastChat client type. */
type Typed = Record<string, unknown> & { type: ClientType }

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
  /** Set by the first HELLO, which decides the dialect (SPEC section 10) for the connection's life. */
  private dialectChosen = false

  constructor(
    private readonly conn: Conn,
    private readonly chat: ChatService,
    handshakeToken: string | undefined
  ) {
    this.session = chat.session(conn, handshakeToken)
  }

  /** The binary frame's ERROR through the session's peer: flat after a flat HELLO (SPEC section 10). */
  binary(): void {
    const { frame, label, errorCode } = SURFACE.binary
    this.session.peer.send(frame, label, errorCode)
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
    const text = buf.toString()
    const parsed = parseJson(text)
    if (!parsed.ok || !isPlainObject(parsed.value)) {
      conn.receivedAs('text')
      conn.send(buf, 'raw')
      return
    }
    const msg = parsed.value
    if (isClientType(msg.type)) {
      const typed = msg as Typed
      conn.receivedAs(msg.type)
      const session = this.session
      if (!this.dialectChosen && msg.type === 'HELLO') {
        this.dialectChosen = true
        if (isFlatHello(msg)) this.chat.speakFlat(session)
      }
      if (needsHello(msg.type) && !session.user) {
        session.peer.send(SEND_HELLO_FIRST, 'ERROR', ErrorCode.UNAUTHORIZED)
        return
      }
      if (session.flat) return this.flatMessage(typed)
      // The parsed frame itself is checked (no copy): it is this connection's own object.
      return this.handle('data' in msg || msg.type !== 'PING' ? typed : emptyPing())
    }
    // The flat dialect's answer to a server PING; liveness is the transport's, so nothing to do.
    if (this.session.flat && msg.type === 'PONG') {
      conn.receivedAs('PONG')
      return
    }
    if (msg.type === 'ping') {
      conn.receivedAs('ping')
      conn.send(lowerPongFrame(conn.id), 'pong')
      return
    }
    // The frame's own text, not the parsed object re-serialized (mainEchoFrame says why).
    conn.send(mainEchoFrame(text.trim(), conn.id, performance.now() - receivedAt), 'echo')
  }

  /** A FastChat message in the envelope: validated, then the chat service's. */
  private handle(frame: Typed): Awaitable<void> {
    const checked = checkClientMessage(frame)
    if (!checked.ok) {
      this.session.peer.send(validationFrame(frame.type, checked.errors), 'ERROR', ErrorCode.VALIDATION)
      return
    }
    return this.chat.dispatch(this.session, checked.message)
  }

  /**
   * A flat frame (SPEC section 10), handled as the enveloped message it means. MSG and TYPING
   * go to the sender's current partner unless they say otherwise; with none, a MSG is refused
   * (CHAT_NOT_OPENED: never paired with a stranger, as the app's own server would) and a TYPING
   * is dropped (the app sends one per keystroke).
   */
  private async flatMessage(msg: Typed): Promise<void> {
    const session = this.session
    const me = session.user?.user_id
    if ((msg.type === 'MSG' || msg.type === 'TYPING') && me !== undefined) {
      // The app's "stopped typing" names nobody: it goes to everyone this connection told it was
      // typing, partners it has left since included, or their indicators would stay on.
      if (msg.type === 'TYPING' && msg.is_typing === false && msg.to === undefined && msg.chat_id === undefined) return this.chat.typing.stop(session)
      const to = await this.chat.flat.recipient(session as Identified, msg)
      if (to === undefined) {
        if (msg.type === 'MSG') session.fail(ErrorCode.CHAT_NOT_OPENED, 'open a chat first')
        return
      }
      return this.handle(envelopeFlat(msg, { to }))
    }
    return this.handle(envelopeFlat(msg, { userId: randomUUID() }))
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
    const msg = parsed.value
    // A flat MSG has no recipient to check, and the app never gives it an id: the error still tells it to resend.
    const messageId = this.session.flat ? (typeof msg.message_id === 'string' ? msg.message_id : randomUUID()) : this.drainedId(msg)
    if (messageId === undefined) return
    const failed = (this.drainFailed ??= new Set())
    if (failed.has(messageId)) return
    failed.add(messageId)
    this.session.peer.send(errorFrame(ErrorCode.MESSAGE_FAILED, SHUTTING_DOWN, { message_id: messageId }), 'ERROR', ErrorCode.MESSAGE_FAILED)
  }

  /** A valid enveloped MSG's message_id (a server one when it has none); undefined for anything else. */
  private drainedId(msg: Record<string, unknown>): string | undefined {
    const checked = checkClientMessage({ ...msg, type: 'MSG' })
    if (!checked.ok || checked.message.type !== 'MSG') return undefined
    return checked.message.data.message_id ?? randomUUID()
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
  app.get('/ws', { websocket: true, config: { directUpgrade: true } }, (socket, req: UpgradeRequest) => {
    const token = tokenFromRequest(req.headers, req.query)
    const conn = app.connections.add(socket, SURFACE, req.id, (conn) => new MainConnection(conn, chat, token))
    if (greet) conn.send(welcomeFrame(conn.id), 'WELCOME')
  })
}

export default routes
