// Builds the AsyncAPI 3.0 document from the very TypeBox schemas that validate the wire, so the
// docs and the playground cannot drift from what the server accepts. Each dialect describes
// its messages as MessageDocs (in its protocol file); this file only assembles them.
//
// Shaped for client generators (chanx's among them, docs/asyncapi.md): one channel per dialect
// (/ws and /ws/echo carry two each, at one address), titled with an identifier (a module or
// class name in a generated client); every payload a named schema under components.schemas,
// titled with its own key; a dialect's discriminator (`type`, `action`) declared on each
// payload that pins it.
import { Kind, type TSchema } from '@sinclair/typebox'
import type { MessageDoc } from '../protocol/message-doc.ts'

/** One dialect spoken on a surface's address: a channel of its own in the document. */
export interface ChannelDoc {
  /** Channel id and title: letters, digits, underscores; generated clients name their module after it. */
  id: string
  /** One line for people. */
  summary: string
  description: string
  /** The property whose value tells this dialect's JSON frames apart, declared on every payload that pins it. */
  discriminator?: string
  /** Client → server. */
  receive: MessageDoc[]
  /** Server → client. */
  send: MessageDoc[]
}

export interface SurfaceDoc {
  /** Channel id: letters, digits, underscores. */
  id: string
  address: string
  /** One line for people. */
  title: string
  description: string
  /** Client → server, every dialect on the address. */
  receive: MessageDoc[]
  /** Server → client, every dialect on the address. */
  send: MessageDoc[]
  /** Whether a token may (or must) come with the handshake. */
  auth?: 'none' | 'optional' | 'required'
  /** As ChannelDoc's, for a surface that is one channel. */
  discriminator?: string
  /** Dialects sharing the address, one channel each (their messages are receive and send); without it, the surface is one channel. */
  channels?: ChannelDoc[]
}

export interface AsyncApiInfo {
  version: string
  /** e.g. ws://localhost:8000, or wss://example.com/switchboard behind a proxy's path prefix (the channels' addresses follow it). */
  wsBase: string
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Letters, digits and underscores, not starting with a digit: a name in TypeScript and Python alike. */
export const isIdentifier = (name: string): boolean => IDENTIFIER.test(name)

/** `echo_raw` → `EchoRaw`, `HELLO_ACK` → `HELLOACK`: each part's first letter raised, the rest kept (so `ping` and `PING` stay apart). */
export function pascal(name: string): string {
  return name.split(/[^A-Za-z0-9]+/).filter(Boolean).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('')
}

/** The title a message's payload gets unless its MessageDoc names one: channel, name, direction. */
export function payloadTitle(channel: string, dir: 'in' | 'out', name: string): string {
  return `${pascal(channel)}${pascal(name)}${dir === 'in' ? 'FromClient' : 'FromServer'}`
}

/** Claims names in one namespace; a name taken (as `same` sees it) gets the first free numeric suffix. */
function namer(same: (name: string) => string = (n) => n) {
  const taken = new Set<string>()
  return (name: string): string => {
    let candidate = name
    for (let i = 2; taken.has(same(candidate)); i++) candidate = `${name}${i}`
    taken.add(same(candidate))
    return candidate
  }
}

/** Any JSON value, spelled out: generators read an empty schema as a string, or skip it. */
const ANY_JSON = ['object', 'array', 'string', 'number', 'boolean', 'null'].map((type) => ({ type }))

/** TypeBox keeps its metadata under symbols; a JSON round trip leaves plain JSON Schema. */
function plain(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema, (_key, value: unknown) => {
    const kind = (value as { [Kind]?: string } | null)?.[Kind]
    return kind === 'Unknown' || kind === 'Any' ? { ...(value as object), anyOf: ANY_JSON } : value
  })) as Record<string, unknown>
}

/** The discriminator this payload carries: the channel's, where the payload pins it with a const and requires it. */
function pins(payload: Record<string, unknown>, discriminator: string | undefined): boolean {
  if (!discriminator) return false
  const prop = (payload.properties as Record<string, { const?: unknown }> | undefined)?.[discriminator]
  return prop?.const !== undefined && ((payload.required as string[] | undefined) ?? []).includes(discriminator)
}

const key = (channel: string, dir: 'in' | 'out', name: string) => `${channel}_${dir}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`

export function buildAsyncApi(surfaces: SurfaceDoc[], info: AsyncApiInfo): Record<string, unknown> {
  const url = new URL(info.wsBase)
  // AsyncAPI 3 joins protocol://host + pathname + a channel's address: a proxy's prefix is the server's pathname.
  const pathname = url.pathname.replace(/\/+$/, '')
  const channels: Record<string, unknown> = {}
  const operations: Record<string, unknown> = {}
  const messages: Record<string, unknown> = {}
  const schemas: Record<string, unknown> = {}
  // Generated clients turn channel titles into PascalCase prefixes and payload titles into type names.
  const channelTitle = namer(pascal)
  const schemaTitle = namer()

  for (const s of surfaces) {
    const auth = s.auth && s.auth !== 'none'
      ? `\n\nA token (${s.auth}) may come as \`Authorization: Bearer …\`, \`?token=…\` or a \`token\` cookie.`
      : ''
    const dialects: ChannelDoc[] = s.channels ?? [{ id: s.id, summary: s.title, description: s.description, discriminator: s.discriminator, receive: s.receive, send: s.send }]
    for (const c of dialects) {
      const title = channelTitle(c.id)
      const channelMessages: Record<string, unknown> = {}
      const add = (dir: 'in' | 'out', m: MessageDoc) => {
        const k = key(c.id, dir, m.name)
        const name = schemaTitle(m.title ?? payloadTitle(title, dir, m.name))
        const { title: _own, ...schema } = plain(m.schema)
        const payload: Record<string, unknown> = { title: name, ...schema }
        if (pins(payload, c.discriminator)) payload.discriminator = c.discriminator
        schemas[name] = payload
        messages[k] = {
          name: m.name,
          title: m.name,
          summary: m.summary ?? `${dir === 'in' ? 'client → server' : 'server → client'} ${m.name}`,
          contentType: m.text ? 'text/plain' : 'application/json',
          payload: { $ref: `#/components/schemas/${name}` },
          examples: m.examples.map((ex, i) => ({ name: `${m.name.replace(/[^A-Za-z0-9_]/g, '_')}_${i + 1}`, payload: ex }))
        }
        channelMessages[k] = { $ref: `#/components/messages/${k}` }
        return { $ref: `#/channels/${c.id}/messages/${k}` }
      }
      const inRefs = c.receive.map((m) => add('in', m))
      const outRefs = c.send.map((m) => add('out', m))
      channels[c.id] = { address: s.address, title, summary: c.summary, description: c.description + auth, messages: channelMessages }
      if (inRefs.length) operations[`${c.id}_receive`] = { action: 'receive', channel: { $ref: `#/channels/${c.id}` }, title: `${c.summary}: client → server`, messages: inRefs }
      if (outRefs.length) operations[`${c.id}_send`] = { action: 'send', channel: { $ref: `#/channels/${c.id}` }, title: `${c.summary}: server → client`, messages: outRefs }
    }
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Switchboard',
      version: info.version,
      description: 'One WebSocket server, several dialects: greeting + echo with enveloped FastChat, and the FastChat app\'s flat dialect, on /ws (one channel each); diagnostic echo and the typed action dialect on /ws/echo (one channel each); the heartbeat on /ws/health; and named walkers at /ws/<name>.'
    },
    defaultContentType: 'application/json',
    servers: {
      switchboard: { host: url.host, protocol: url.protocol.replace(':', ''), ...(pathname ? { pathname } : {}), description: 'this instance' }
    },
    channels,
    operations,
    components: { messages, schemas }
  }
}
