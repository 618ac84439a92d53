// Every WebSocket surface as the AsyncAPI document lists it, assembled from each dialect's own
// schemas and examples (src/protocol/*), plus one channel per loaded websocket walker.
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { payloadTitle, type ChannelDoc, type SurfaceDoc } from './asyncapi.ts'
import type { MessageDoc } from '../protocol/message-doc.ts'
import type { LoadedWalker } from '../walkers/registry.ts'
import { WalkerFailure, WalkerSuccess } from '../protocol/walker.ts'
import { mainDocs } from '../protocol/main.ts'
import { fastchatDocs } from '../protocol/fastchat.ts'
import { echoDocs } from '../protocol/echo.ts'
import { healthDocs } from '../protocol/health.ts'
import { consumerDocs } from '../consumers/docs.ts'
import { echoConsumer } from '../consumers/echo.ts'

/**
 * The action dialect on /ws/echo: its own channel, discriminated by `action`. Its messages keep
 * an `action_` prefix in their names (the surface lists both dialects, and the playground shows
 * the names); their payloads are titled by the action alone.
 */
function actionChannel(): ChannelDoc {
  const id = 'echo_actions'
  const docs = consumerDocs(echoConsumer)
  const named = (dir: 'in' | 'out') => (m: MessageDoc): MessageDoc => ({ ...m, name: `action_${m.name}`, title: payloadTitle(id, dir, m.name) })
  return {
    id,
    summary: 'Typed actions (chanx / Django Channels)',
    description: 'The typed `{action, payload}` dialect of Django Channels / chanx consumers, on the same socket as the diagnostic echo: every frame with an `action` key, and every reply, is one of these; `action` tells them apart. The socket also carries the `echo` channel\'s welcome (first) and server_ping (each heartbeat).',
    discriminator: 'action',
    receive: docs.receive.map(named('in')),
    send: docs.send.map(named('out'))
  }
}

export function coreSurfaces(): SurfaceDoc[] {
  const echoChannels: ChannelDoc[] = [
    {
      id: 'echo',
      summary: 'Diagnostic echo',
      description: 'The operators\' smoke-test echo: welcome on open, the echo envelope for JSON, echo_raw for other text, server_ping on every heartbeat; `type` tells them apart. Frames with an `action` key belong to the `echo_actions` channel on the same socket.',
      discriminator: 'type',
      receive: echoDocs.receive,
      send: echoDocs.send
    },
    actionChannel()
  ]
  return [
    {
      id: 'main',
      address: '/ws',
      title: 'Main endpoint',
      description: 'A JSON greeting first, then verbatim echo of plain text, `{"type":"ping"}` → pong, the echo envelope for other JSON objects, and the FastChat chat protocol.',
      auth: 'optional',
      discriminator: 'type',
      receive: [...mainDocs.receive, ...fastchatDocs.receive],
      send: [...mainDocs.send, ...fastchatDocs.send]
    },
    {
      id: 'echo',
      address: '/ws/echo',
      title: 'Diagnostic echo and typed actions',
      description: 'The operators\' smoke-test echo (welcome, echo, echo_raw, server_ping) and, on the same socket, the typed `{action, payload}` dialect of Django Channels consumers.',
      auth: 'optional',
      receive: echoChannels.flatMap((c) => c.receive),
      send: echoChannels.flatMap((c) => c.send),
      channels: echoChannels
    },
    {
      id: 'health',
      address: '/ws/health',
      title: 'Sustained-connection heartbeat',
      description: 'Proves a deployment holds a socket open through its proxy: a heartbeat every WS_PING_INTERVAL seconds, get_status on demand.',
      auth: 'none',
      discriminator: 'type',
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
