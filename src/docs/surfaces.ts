// Every WebSocket surface as the AsyncAPI document lists it, assembled from each dialect's own
// schemas and examples (src/protocol/*), plus one channel per loaded websocket walker.
import type { SurfaceDoc } from './asyncapi.ts'
import { mainDocs } from '../protocol/main.ts'
import { echoDocs } from '../protocol/echo.ts'
import { healthDocs } from '../protocol/health.ts'
import { consumerDocs } from '../protocol/action.ts'
import { echoConsumer } from '../consumers/echo.ts'

export function coreSurfaces(): SurfaceDoc[] {
  const action = consumerDocs(echoConsumer)
  return [
    {
      id: 'main',
      address: '/ws',
      title: 'Main endpoint',
      description: 'A JSON greeting first, then verbatim echo of plain text, `{"type":"ping"}` → pong, the echo envelope for other JSON objects, and the FastChat chat protocol.',
      auth: 'optional',
      receive: [...mainDocs.receive],
      send: [...mainDocs.send]
    },
    {
      id: 'echo',
      address: '/ws/echo',
      title: 'Diagnostic echo and typed actions',
      description: 'The operators\' smoke-test echo (welcome, echo, echo_raw, server_ping) and, on the same socket, the typed `{action, payload}` dialect of Django Channels consumers.',
      auth: 'optional',
      receive: [...echoDocs.receive, ...action.receive.map((m) => ({ ...m, name: `action_${m.name}` }))],
      send: [...echoDocs.send, ...action.send.map((m) => ({ ...m, name: `action_${m.name}` }))]
    },
    {
      id: 'health',
      address: '/ws/health',
      title: 'Sustained-connection heartbeat',
      description: 'Proves a deployment holds a socket open through its proxy: a heartbeat every WS_PING_INTERVAL seconds, get_status on demand.',
      auth: 'none',
      receive: healthDocs.receive,
      send: healthDocs.send
    }
  ]
}
