// The `type` label values of switchboard_ws_messages_total, read off the schemas every surface
// documents (src/docs/surfaces.ts): a message type added to a dialect's docs is counted under
// its own name. The transport's own labels name frames no schema describes.
import type { TSchema } from '@sinclair/typebox'
import { coreSurfaces } from '../docs/surfaces.ts'
import { WalkerFailure, WalkerSuccess } from '../protocol/walker.ts'

/**
 * Frames no dialect schema describes: plain text in, its verbatim echo out ("raw": the client
 * chose its bytes), binary in, a walker's input, and "other", which every unknown label becomes.
 */
export const TRANSPORT_LABELS = ['text', 'raw', 'binary', 'walker_input', 'other'] as const

const constOf = (schema: TSchema | undefined): unknown => (schema as { const?: unknown } | undefined)?.const

/** The label of a frame this schema describes: its `type`, `action:<action>`, or reply_ok/reply_error for `ok`. */
export function labelsOf(schema: TSchema): string[] {
  const members = (schema as { anyOf?: TSchema[] }).anyOf
  if (members) return members.flatMap(labelsOf)
  const props = (schema as { properties?: Record<string, TSchema> }).properties
  if (!props) return []
  const type = constOf(props.type)
  if (typeof type === 'string') return [type]
  const action = constOf(props.action)
  if (typeof action === 'string') return [`action:${action}`]
  const ok = constOf(props.ok)
  if (typeof ok === 'boolean') return [ok ? 'reply_ok' : 'reply_error']
  return []
}

/** Every label, the protocols' first (in the order the docs list them), then the transport's; "other" last. */
export function frameLabels(): readonly string[] {
  const labels = new Set<string>()
  for (const surface of coreSurfaces()) {
    for (const doc of [...surface.receive, ...surface.send]) for (const label of labelsOf(doc.schema)) labels.add(label)
  }
  for (const label of labelsOf(WalkerSuccess)) labels.add(label)
  for (const label of labelsOf(WalkerFailure)) labels.add(label)
  for (const label of TRANSPORT_LABELS) labels.delete(label)
  return [...labels, ...TRANSPORT_LABELS]
}
