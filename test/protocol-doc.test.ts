// docs/protocol.md's frame tables are generated from the schemas and examples that validate
// messages (src/cli/protocol-doc.ts): this fails when someone changes a dialect and not the
// reference. Run `npx tsx src/cli/protocol-doc.ts` to bring it up to date.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { withFrameTables } from '../src/cli/protocol-doc.ts'

const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8')

t.test('docs/protocol.md shows the frames the schemas define', async (t) => {
  t.equal(doc, withFrameTables(doc), 'up to date (npx tsx src/cli/protocol-doc.ts)')
  for (const heading of ['`/ws`: Main endpoint', '`/ws`: FastChat, the app\'s flat dialect', '`/ws/echo`: Diagnostic echo', '`/ws/echo`: Typed actions', '`/ws/health`']) {
    t.match(doc, `### ${heading}`, `a section for ${heading}`)
  }
  t.notMatch(doc, /\| {2}\| `/, 'every message says what it is')
})

t.test('every close code the service sends is in the reference', async (t) => {
  const { CloseCode } = await import('../src/protocol/close-codes.ts')
  for (const code of Object.values(CloseCode)) t.match(doc, `| ${code} |`, `close code ${code}`)
})
