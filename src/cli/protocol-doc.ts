// Rewrites the frame tables of docs/protocol.md from the same schemas and examples that validate
// messages and feed /asyncapi.json (npx tsx src/cli/protocol-doc.ts), so the reference shows the
// frames the server really takes and sends. test/protocol-doc.test.ts fails when the two drift.
import { readFileSync, writeFileSync } from 'node:fs'
import type { ChannelDoc, SurfaceDoc } from '../docs/asyncapi.ts'
import { coreSurfaces } from '../docs/surfaces.ts'
import type { MessageDoc } from '../protocol/message-doc.ts'

export const BEGIN = '<!-- frames:begin -->'
export const END = '<!-- frames:end -->'

/** A value as one line of Markdown table: JSON (or the text itself), pipes escaped. */
function cell(example: unknown, text: boolean | undefined): string {
  const s = text && typeof example === 'string' ? example : JSON.stringify(example)
  return '`' + s.replaceAll('|', '\\|').replaceAll('`', '\\`') + '`'
}

function rows(direction: string, messages: MessageDoc[]): string[] {
  return messages.map((m) => {
    const what = m.summary ?? (m.schema as { description?: string }).description ?? ''
    return `| ${direction} | \`${m.name}\` | ${what.replaceAll('|', '\\|')} | ${m.examples.map((e) => cell(e, m.text)).join('<br>')} |`
  })
}

function channelSection(address: string, c: Pick<ChannelDoc, 'id' | 'summary' | 'description' | 'discriminator' | 'receive' | 'send'>): string {
  return [
    `### \`${address}\`: ${c.summary} (channel \`${c.id}\`${c.discriminator ? `, told apart by \`${c.discriminator}\`` : ''})`,
    '',
    c.description,
    '',
    '| direction | message | what | example frames |',
    '|---|---|---|---|',
    ...rows('client → server', c.receive),
    ...rows('server → client', c.send),
    ''
  ].join('\n')
}

function surfaceSections(s: SurfaceDoc): string {
  const channels = s.channels ?? [{ id: s.id, summary: s.title, description: s.description, discriminator: s.discriminator, receive: s.receive, send: s.send }]
  return channels.map((c) => channelSection(s.address, c)).join('\n')
}

/** The generated part of docs/protocol.md: every core surface's frames, channel by channel. */
export function frameTables(): string {
  return coreSurfaces().map(surfaceSections).join('\n')
}

export function withFrameTables(doc: string): string {
  const a = doc.indexOf(BEGIN)
  const b = doc.indexOf(END)
  if (a === -1 || b === -1) throw new Error(`docs/protocol.md needs ${BEGIN} … ${END} markers`)
  return `${doc.slice(0, a + BEGIN.length)}\n${frameTables()}\n${doc.slice(b)}`
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = new URL('../../docs/protocol.md', import.meta.url)
  writeFileSync(file, withFrameTables(readFileSync(file, 'utf8')))
  process.stdout.write('docs/protocol.md frame tables updated\n')
}
