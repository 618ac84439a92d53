// WS /ws: the JSON greeting, verbatim echo of anything that is not a JSON object, the
// lower-case ping and the echo envelope (SPEC section 2). FastChat types are checked here (HELLO
// first, then the schema) and handed to app.chat (src/chat); docs/fastchat.md has the details.
import type { FastifyPluginAsync } from 'fastify'
import type { RawData } from 'ws'
import { performance } from 'node:perf_hooks'
import type { Conn } from '../src/transport/connections.ts'
import { CLIENT_HEARTBEAT, type LowerPong, type MainEcho, type Welcome } from '../src/protocol/main.ts'
import { checkClientMessage, errorFrame, isClientType, validationFrame } from '../src/protocol/fastchat.ts'
import { ErrorCode } from '../src/protocol/error-codes.ts'
import { isPlainObject, looksLikeJsonObject, parseJson } from '../src/lib/json.ts'
import { epochSeconds, isoNow, round3 } from '../src/lib/clock.ts'
import { Serial } from '../src/lib/serial.ts'
import { tokenFromRequest } from '../src/auth/tokens.ts'
import { needsHello, SEND_HELLO_FIRST, type ChatService } from '../src/chat/service.ts'
import type { ChatSession } from '../src/chat/session.ts'

const BINARY_REFUSED = errorFrame(ErrorCode.VALIDATION, 'binary frames are not supported')

function welcome(clientId: string): string {
  return JSON.stringify({
    type: 'WELCOME',
    data: { client_id: clientId, server_time: isoNow(), protocols: ['echo', 'fastchat'], heartbeat: CLIENT_HEARTBEAT }
  } satisfies Welcome)
}

/** SPEC section 2's dispatch order: binary, not a JSON object, FastChat, ping, echo. */
function onMessage(chat: ChatService, session: ChatSession, conn: Conn, data: RawData, isBinary: boolean): void | Promise<void> {
  const receivedAt = performance.now()
  if (isBinary) {
    conn.send(BINARY_REFUSED)
    return
  }
  const buf = data as Buffer
  const text = buf.toString()
  if (!looksLikeJsonObject(text)) {
    conn.send(buf) // verbatim, byte for byte
    return
  }
  const parsed = parseJson(text)
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
  conn.send(JSON.stringify({
    type: 'echo',
    data: msg,
    timestamp: epochSeconds(),
    client_id: conn.id,
    server_processing_ms: round3(performance.now() - receivedAt)
  } satisfies MainEcho))
}

const routes: FastifyPluginAsync = async (app) => {
  const greet = app.config.WS_GREETING
  const chat = app.chat
  app.get('/ws', { websocket: true }, (socket, req) => {
    // Frames are answered one at a time, in order: chat handlers await the backplane, and a
    // later echo must not overtake an earlier HELLO_ACK.
    const queue = new Serial()
    const conn = app.connections.add(socket, {
      surface: 'main',
      prefix: 'ws_client',
      log: req.log,
      onMessage: (c, data, isBinary) => queue.submit(() => onMessage(chat, session, c, data, isBinary)),
      onClose: () => {
        // At once, so no delivery reaches this connection any more; the domain's cleanup waits
        // its turn behind the frames still being handled.
        session.close()
        queue.run(() => chat.disconnect(session)).catch((err) => conn.log.error({ err, client_id: conn.id }, 'chat cleanup failed'))
      }
    })
    const session = chat.session(conn, tokenFromRequest(req.headers, req.query))
    if (greet) conn.send(welcome(conn.id))
  })
}

export default routes
