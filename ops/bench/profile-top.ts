// Print the top frames of a V8 .cpuprofile (node --cpu-prof; `npm run bench -- <scenario> --profile`):
// self time and total (inclusive) time per function, as a share of all samples.
//
//   npx tsx ops/bench/profile-top.ts FILE.cpuprofile [--top 40] [--filter text]
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
  children?: number[]
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '40' }, filter: { type: 'string' } }
})
const file = positionals[0]
if (!file) {
  console.error('usage: tsx ops/bench/profile-top.ts FILE.cpuprofile [--top 40] [--filter text]')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] }
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const total = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0)

const name = (n: ProfileNode) => {
  const url = n.callFrame.url.replace(/^file:\/\/.*?\/(node_modules|src|routes|plugins|ops)\//, '$1/')
  return `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim()
}

const self = new Map<string, number>()
const inclusive = new Map<string, number>()
for (const n of profile.nodes) {
  const hits = n.hitCount ?? 0
  if (!hits) continue
  self.set(name(n), (self.get(name(n)) ?? 0) + hits)
  // Every distinct function on the stack gets the hits once (recursion counted once).
  const seen = new Set<string>()
  for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
    const key = name(byId.get(id)!)
    if (seen.has(key)) continue
    seen.add(key)
    inclusive.set(key, (inclusive.get(key) ?? 0) + hits)
  }
}

const top = Number(values.top)
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (of ${total} samples)`)
  const rows = [...m].filter(([k]) => !values.filter || k.includes(values.filter)).sort((a, b) => b[1] - a[1]).slice(0, top)
  for (const [k, v] of rows) console.log(`${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`)
}
show('self', self)
show('total', inclusive)
