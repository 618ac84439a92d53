// Builds the AsyncAPI 3.0 document from the very TypeBox schemas that validate the wire, so the
// docs and the playground cannot drift from what the server accepts. Each dialect describes
// its messages as MessageDocs (in its protocol file); this file only assembles them.
import type { TSchema } from '@sinclair/typebox'
import type { MessageDoc } from '../protocol/message-doc.ts'

export interface SurfaceDoc {
  /** Channel id: letters, digits, underscores. */
  id: string
  address: string
  title: string
  description: string
  /** Client → server. */
  receive: MessageDoc[]
  /** Server → client. */
  send: MessageDoc[]
  /** Whether a token may (or must) come with the handshake. */
  auth?: 'none' | 'optional' | 'required'
}

export interface AsyncApiInfo {
  version: string
  /** e.g. ws://localhost:8000 */
  wsBase: string
}

/** TypeBox keeps its metadata under symbols; JSON round-trip leaves plain JSON Schema. */
const plain = (schema: TSchema): object => JSON.parse(JSON.stringify(schema)) as object

const key = (surface: string, dir: 'in' | 'out', name: string) => `${surface}_${dir}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`

export function buildAsyncApi(surfaces: SurfaceDoc[], info: AsyncApiInfo): Record<string, unknown> {
  const url = new URL(info.wsBase)
  const channels: Record<string, unknown> = {}
  const operations: Record<string, unknown> = {}
  const messages: Record<string, unknown> = {}

  for (const s of surfaces) {
    const channelMessages: Record<string, unknown> = {}
    const add = (dir: 'in' | 'out', m: MessageDoc) => {
      const k = key(s.id, dir, m.name)
      messages[k] = {
        name: m.name,
        title: m.name,
        summary: m.summary ?? `${dir === 'in' ? 'client → server' : 'server → client'} ${m.name}`,
        contentType: m.text ? 'text/plain' : 'application/json',
        payload: plain(m.schema),
        examples: m.examples.map((payload, i) => ({ name: `${m.name.replace(/[^A-Za-z0-9_]/g, '_')}_${i + 1}`, payload }))
      }
      channelMessages[k] = { $ref: `#/components/messages/${k}` }
      return { $ref: `#/channels/${s.id}/messages/${k}` }
    }
    const inRefs = s.receive.map((m) => add('in', m))
    const outRefs = s.send.map((m) => add('out', m))
    channels[s.id] = {
      address: s.address,
      title: s.title,
      description: s.description + (s.auth && s.auth !== 'none'
        ? `\n\nA token (${s.auth}) may come as \`Authorization: Bearer …\`, \`?token=…\` or a \`token\` cookie.`
        : ''),
      messages: channelMessages
    }
    if (inRefs.length) operations[`${s.id}_receive`] = { action: 'receive', channel: { $ref: `#/channels/${s.id}` }, title: `${s.title}: client → server`, messages: inRefs }
    if (outRefs.length) operations[`${s.id}_send`] = { action: 'send', channel: { $ref: `#/channels/${s.id}` }, title: `${s.title}: server → client`, messages: outRefs }
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Switchboard',
      version: info.version,
      description: 'One WebSocket server, several dialects: greeting + echo and FastChat on /ws, diagnostic echo and the typed action dialect on /ws/echo, the heartbeat on /ws/health, and named walkers at /ws/<name>.'
    },
    defaultContentType: 'application/json',
    servers: {
      switchboard: { host: url.host, protocol: url.protocol.replace(':', ''), description: 'this instance' }
    },
    channels,
    operations,
    components: { messages }
  }
}
