// WS /ws: the JSON greeting, verbatim echo of anything that is not a JSON object, the
// lower-case ping and the echo envelope (SPEC section 2). FastChat types go to the chat handlers.
import type { FastifyPluginAsync } from 'fastify'
import type { RawData } from 'ws'
import { performance } from 'node:perf_hooks'
import type { Conn } from '../src/transport/connections.ts'
import { CLIENT_HEARTBEAT, type LowerPong, type MainEcho, type Welcome } from '../src/protocol/main.ts'
import { errorFrame } from '../src/protocol/fastchat.ts'
import { ErrorCode } from '../src/protocol/error-codes.ts'
import { isPlainObject, looksLikeJsonObject, parseJson } from '../src/lib/json.ts'
import { epochSeconds, isoNow, round3 } from '../src/lib/clock.ts'

const BINARY_REFUSED = errorFrame(ErrorCode.VALIDATION, 'binary frames are not supported')

function welcome(clientId: string): string {
  return JSON.stringify({
    type: 'WELCOME',
    data: { client_id: clientId, server_time: isoNow(), protocols: ['echo', 'fastchat'], heartbeat: CLIENT_HEARTBEAT }
  } satisfies Welcome)
}

function onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
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
  app.get('/ws', { websocket: true }, (socket, req) => {
    const conn = app.connections.add(socket, { surface: 'main', prefix: 'ws_client', log: req.log, onMessage })
    if (greet) conn.send(welcome(conn.id))
  })
}

export default routes
