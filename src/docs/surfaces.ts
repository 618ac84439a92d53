// Every WebSocket surface as the AsyncAPI document lists it, assembled from each dialect's own
// schemas and examples (src/protocol/*), plus one channel per loaded websocket walker.
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { SurfaceDoc } from './asyncapi.ts'
import type { LoadedWalker } from '../walkers/registry.ts'
import { WalkerFailure, WalkerSuccess } from '../protocol/walker.ts'
import { mainDocs } from '../protocol/main.ts'
import { fastchatDocs } from '../protocol/fastchat.ts'
import { echoDocs } from '../protocol/echo.ts'
import { healthDocs } from '../protocol/health.ts'
import { consumerDocs } from '../consumers/docs.ts'
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
      receive: [...mainDocs.receive, ...fastchatDocs.receive],
      send: [...mainDocs.send, ...fastchatDocs.send]
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

/** One channel per loaded websocket walker: its field schema in, the envelope out. */
export function walkerSurfaces(walkers: LoadedWalker[]): SurfaceDoc[] {
  return walkers.filter((w) => w.protocol === 'websocket').map((w) => {
    const fields = w.public ? w.fields : Type.Composite([w.fields, Type.Object({ token: Type.Optional(Type.String({ description: 'JWT, when the handshake carried none' })) })])
    return {
      id: `walker_${w.name}`,
      address: `/ws/${w.name}`,
      title: `Walker ${w.name}`,
      description: `${w.description ?? 'Named typed endpoint.'} Each JSON message is one execution${w.broadcast ? '; every reply goes to every socket on this walker' : ''}.${w.public ? '' : ' Requires a token.'}`,
      auth: w.public ? 'optional' : 'required',
      receive: [{ name: 'fields', schema: fields, examples: [Value.Create(w.fields)] }],
      send: [
        { name: 'success', schema: WalkerSuccess, examples: [{ ok: true, data: { reports: [{}] } }] },
        {
          name: 'failure', schema: WalkerFailure,
          examples: [
            { ok: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or missing token' } },
            { ok: false, error: { code: 'VALIDATION', message: 'Invalid walker fields', details: [{ path: '/message', message: 'Expected string' }] } },
            { ok: false, error: { code: 'EXECUTION_ERROR', message: 'Walker execution failed' } }
          ]
        }
      ]
    } satisfies SurfaceDoc
  })
}
