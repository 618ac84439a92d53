// /asyncapi.json as the AsyncAPI tests read it: its shape, a channel's payload schemas, and a
// validator that checks frames off real sockets against the served document as a client
// generator would (ajv, `#/components/schemas/…` references resolved within the document).
import type { Test } from 'tap'
import { Ajv, type ValidateFunction } from 'ajv'

export type Schema = { title?: string; description?: string; discriminator?: string; properties?: Record<string, { const?: unknown }>; required?: string[] }
export type Doc = {
  channels: Record<string, { address: string; title: string; summary: string; messages: Record<string, { $ref: string }> }>
  operations: Record<string, { action: 'send' | 'receive'; channel: { $ref: string }; messages: { $ref: string }[] }>
  components: { messages: Record<string, { name: string; payload: { $ref: string } }>; schemas: Record<string, Schema> }
}

export const last = (ref: string): string => ref.slice(ref.lastIndexOf('/') + 1)

export const PYTHON_KEYWORDS = new Set(['False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else', 'except',
  'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield'])

export async function fetchDoc(http: string): Promise<Doc> {
  const res = await fetch(`${http}/asyncapi.json`)
  return await res.json() as Doc
}

/** A channel's payload schemas one direction: the server's (`send`) or the client's (`receive`), by title. */
export function payloads(doc: Doc, channel: string, dir: 'send' | 'receive'): [string, Schema][] {
  const op = doc.operations[`${channel}_${dir}`]
  return (op?.messages ?? []).map((ref) => {
    const title = last(doc.components.messages[last(ref.$ref)]!.payload.$ref)
    return [title, doc.components.schemas[title]!]
  })
}

/**
 * Checks frames against the document's own JSON: each payload schema compiled by ajv with the
 * document as its root, so `#/components/schemas/…` references resolve as a generator's would.
 * Formats are not checked (TypeBox checks them on the server). Returns, for a channel and a
 * frame, the titles of that channel's server messages that accept the frame.
 */
export function validator(doc: Doc): (channel: string, frame: unknown) => string[] {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true })
  ajv.addSchema({ $id: 'asyncapi.json', components: { schemas: doc.components.schemas } })
  const compiled = new Map<string, ValidateFunction>()
  const check = (title: string): ValidateFunction => {
    let v = compiled.get(title)
    if (!v) compiled.set(title, v = ajv.compile({ $ref: `asyncapi.json#/components/schemas/${title}` }))
    return v
  }
  return (channel, frame) => payloads(doc, channel, 'send').filter(([title]) => check(title)(frame)).map(([title]) => title)
}

/**
 * Two channels at one address, checked against the frames the server sent there: each frame is
 * accepted by exactly one server message of its own channel and by none of the other's, and every
 * server message either channel documents took a frame.
 */
export function assertOwnChannels(t: Test, doc: Doc, channels: [string, string], sent: { channel: string; frame: unknown }[]): void {
  const accepts = validator(doc)
  const seen = new Map(channels.map((c) => [c, new Set<string>()]))
  for (const { channel, frame } of sent) {
    const other = channel === channels[0] ? channels[1] : channels[0]
    const own = accepts(channel, frame)
    t.equal(own.length, 1, `${channel}: exactly one model takes ${JSON.stringify(frame).slice(0, 140)} (${own.join(', ')})`)
    t.same(accepts(other, frame), [], `${other}: no model takes it`)
    for (const title of own) seen.get(channel)!.add(title)
  }
  for (const channel of channels) {
    t.same([...seen.get(channel)!].sort(), payloads(doc, channel, 'send').map(([n]) => n).sort(), `${channel}: every server message seen`)
  }
}
