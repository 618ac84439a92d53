// Every WebSocket surface as the AsyncAPI document lists it, assembled from each dialect's own
// schemas and examples (src/protocol/*), plus one channel per loaded websocket walker.
import { Type, type TObject, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { payloadTitle, type ChannelDoc, type SurfaceDoc } from './asyncapi.ts'
import type { DialectDocs, MessageDoc } from '../protocol/message-doc.ts'
import type { LoadedWalker } from '../walkers/registry.ts'
import { WalkerFailure, WalkerSuccess } from '../protocol/walker.ts'
import { mainDocs } from '../protocol/main.ts'
import { fastchatDocs } from '../protocol/fastchat.ts'
import { flatDocs } from '../protocol/fastchat-flat.ts'
import { echoDocs } from '../protocol/echo.ts'
import { healthDocs } from '../protocol/health.ts'
import { consumerDocs } from '../consumers/docs.ts'
import { echoConsumer } from '../consumers/echo.ts'

/**
 * A dialect's messages as one channel among several on its address: their names get `prefix`
 * (the surface lists every dialect's messages, names unique, and the playground shows them);
 * their payloads stay titled by channel and bare name.
 */
function prefixed(id: string, prefix: string, docs: DialectDocs): Pick<ChannelDoc, 'receive' | 'send'> {
  const named = (dir: 'in' | 'out') => (m: MessageDoc): MessageDoc => ({ ...m, name: `${prefix}${m.name}`, title: payloadTitle(id, dir, m.name) })
  return { receive: docs.receive.map(named('in')), send: docs.send.map(named('out')) }
}

/** The action dialect on /ws/echo: its own channel, discriminated by `action`; its messages are `action_<action>`. */
function actionChannel(): ChannelDoc {
  const id = 'echo_actions'
  return {
    id,
    summary: 'Typed actions (chanx / Django Channels)',
    description: 'The typed `{action, payload}` dialect of Django Channels / chanx consumers, on the same socket as the diagnostic echo: every frame with an `action` key (or a `payload` and no `type`: an action frame missing its action, answered with that error rather than echoed), and every reply, is one of these; `action` tells them apart. The socket also carries the `echo` channel\'s welcome (first) and server_ping (each heartbeat).',
    discriminator: 'action',
    ...prefixed(id, 'action_', consumerDocs(echoConsumer))
  }
}

/** The FastChat app's flat dialect on /ws (SPEC 10): its own channel, discriminated by `type`; its messages are `flat_<type>`. */
function flatChannel(): ChannelDoc {
  const id = 'main_flat'
  return {
    id,
    summary: 'FastChat, the app\'s flat dialect',
    description: 'FastChat as the FastChat app\'s own frontend speaks it (SPEC section 10): every field beside `type`, no `data` envelope, and MSG and TYPING addressed to the current partner (the target of the last CHAT_OPENED). A connection whose first HELLO is flat (no `data` key, a top-level `display_name`) speaks it for its life; every FastChat frame it is sent is one of these. The socket also carries the `main` channel\'s greeting (WELCOME, first), its echo replies to other frames, and the enveloped PONG to a PING sent before HELLO.',
    discriminator: 'type',
    ...prefixed(id, 'flat_', flatDocs)
  }
}

export function coreSurfaces(): SurfaceDoc[] {
  const mainChannels: ChannelDoc[] = [
    {
      id: 'main',
      summary: 'Main endpoint',
      description: 'A JSON greeting first, then verbatim echo of plain text, `{"type":"ping"}` → pong, the echo envelope for other JSON objects, and the FastChat chat protocol in its `{type, data}` envelope (SPEC section 3); `type` tells them apart. After a flat HELLO, FastChat frames belong to the `main_flat` channel on the same socket.',
      discriminator: 'type',
      receive: [...mainDocs.receive, ...fastchatDocs.receive],
      send: [...mainDocs.send, ...fastchatDocs.send]
    },
    flatChannel()
  ]
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
      description: 'A JSON greeting first, then verbatim echo of plain text, `{"type":"ping"}` → pong, the echo envelope for other JSON objects, and the FastChat chat protocol in two dialects: the enveloped `{type, data}` of SPEC section 3 and the FastChat app\'s flat frames.',
      auth: 'optional',
      receive: mainChannels.flatMap((c) => c.receive),
      send: mainChannels.flatMap((c) => c.send),
      channels: mainChannels
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

/** A value a person would type for one field: its own example, its default, or a plain word or number within its bounds. */
function fieldExample(schema: TSchema): unknown {
  const s = schema as TSchema & { examples?: unknown; default?: unknown; minLength?: number; maxLength?: number; minimum?: number; maximum?: number; pattern?: string; format?: string }
  const candidates: unknown[] = []
  if (Array.isArray(s.examples)) candidates.push(s.examples[0])
  else if (s.examples !== undefined) candidates.push(s.examples)
  if (s.default !== undefined && typeof s.default !== 'function') candidates.push(s.default)
  if (s.type === 'string') {
    const word = 'hello'.padEnd(s.minLength ?? 0, '!')
    candidates.push(s.maxLength !== undefined ? word.slice(0, s.maxLength) : word)
  }
  if (s.type === 'integer' || s.type === 'number') candidates.push(Math.min(Math.max(1, s.minimum ?? 1), s.maximum ?? 1))
  if (s.type === 'boolean') candidates.push(true)
  return candidates.find((c) => Value.Check(schema, c)) ?? created(schema) ?? candidates[0]
}

/** Value.Create's value, or undefined where it gives up (a string format without a default). */
function created(schema: TSchema): unknown {
  try {
    return Value.Create(schema)
  } catch {
    return undefined
  }
}

/**
 * The example the playground pre-fills for a walker: every required field and every field
 * with a default, each with a value a person would type ("hello" rather than Value.Create's
 * empty string), or Value.Create's whole object when that would not validate. Never throws:
 * a schema nothing can satisfy (an unregistered format) still gets its best guess.
 */
export function walkerExample(fields: TObject): Record<string, unknown> {
  const required = new Set(fields.required ?? [])
  const example: Record<string, unknown> = {}
  for (const [key, prop] of Object.entries(fields.properties)) {
    if (required.has(key) || prop.default !== undefined) example[key] = fieldExample(prop)
  }
  if (Value.Check(fields, example)) return example
  // A best guess still beats no example (the page and the document must not fail over one walker).
  return (created(fields) as Record<string, unknown> | undefined) ?? example
}

/** A field with a default may be left out by the client (the server fills it in), whatever TypeBox lists as required. */
function asSent(fields: TObject): TObject {
  const required = (fields.required ?? []).filter((k) => fields.properties[k]?.default === undefined)
  const { required: _all, ...rest } = fields
  return (required.length > 0 ? { ...rest, required } : rest) as TObject
}

/**
 * An authenticated walker's fields plus the `token` a message may carry (SPEC 6: removed before
 * the fields are checked). Type.Composite keeps only properties and required, so the walker's
 * additionalProperties is copied over: without it the document would accept the unknown fields
 * the server answers VALIDATION.
 */
function withToken(fields: TObject): TObject {
  const token = Type.Object({ token: Type.Optional(Type.String({ description: 'JWT, when the handshake carried none' })) })
  const extra = fields.additionalProperties === undefined ? {} : { additionalProperties: fields.additionalProperties }
  return Type.Composite([fields, token], extra)
}

/** Ends a sentence that lacks its full stop. */
const sentence = (text: string) => (/[.!?)]$/.test(text) ? text : `${text}.`)

/** One channel per loaded websocket walker: its field schema in, the envelope out. */
export function walkerSurfaces(walkers: LoadedWalker[]): SurfaceDoc[] {
  return walkers.filter((w) => w.protocol === 'websocket').map((w) => {
    const fields = asSent(w.public ? w.fields : withToken(w.fields))
    return {
      id: `walker_${w.name}`,
      address: `/ws/${w.name}`,
      title: w.description ? `Walker: ${w.description}` : `Walker ${w.name}`,
      description: `${sentence(w.description ?? 'Named typed endpoint')} Each JSON message is one execution${w.broadcast ? '; every reply goes to every socket on this walker' : ''}.${w.public ? '' : ' Requires a token.'}`,
      auth: w.public ? 'optional' : 'required',
      receive: [{ name: 'fields', schema: fields, summary: `client → server: the fields of one ${w.name} execution`, examples: [walkerExample(w.fields)] }],
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
