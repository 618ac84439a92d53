// What a server holds per idle connection, from V8 heap snapshots (node --heapsnapshot-signal=
// SIGUSR2, or writeHeapSnapshot): how docs/bench.md found what each socket kept alive.
//
//   npx tsx ops/bench/heap-census.ts BEFORE.heapsnapshot AFTER.heapsnapshot N [--top 40]
//     per constructor: how many more objects and bytes (self size) AFTER holds, divided by N
//     (take BEFORE with no connections and AFTER with N of them)
//   npx tsx ops/bench/heap-census.ts --retainers ServerResponse AFTER.heapsnapshot
//     the shortest chain from a GC root to one object of that constructor: who keeps it alive
//   npx tsx ops/bench/heap-census.ts --owners '(array)' AFTER.heapsnapshot
//     objects of that name grouped by what holds them: the owner's name and the edge's name
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

/** A snapshot's flat arrays read as nodes and edges. */
class HeapGraph {
  readonly count: number
  private readonly s: Snapshot
  private readonly nw: number
  private readonly ew: number
  private readonly at: Record<'type' | 'name' | 'size' | 'edges' | 'edgeType' | 'edgeName' | 'to', number>
  /** Index of each node's first edge in `edges`. */
  private readonly firstEdge: Int32Array

  constructor(file: string) {
    const s = (this.s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot)
    const nf = s.snapshot.meta.node_fields
    const ef = s.snapshot.meta.edge_fields
    this.nw = nf.length
    this.ew = ef.length
    this.at = {
      type: nf.indexOf('type'), name: nf.indexOf('name'), size: nf.indexOf('self_size'), edges: nf.indexOf('edge_count'),
      edgeType: ef.indexOf('type'), edgeName: ef.indexOf('name_or_index'), to: ef.indexOf('to_node')
    }
    this.count = s.nodes.length / this.nw
    this.firstEdge = new Int32Array(this.count + 1)
    for (let i = 0, e = 0; i < this.count; i++) {
      this.firstEdge[i] = e
      e += s.nodes[i * this.nw + this.at.edges]! * this.ew
    }
    this.firstEdge[this.count] = s.edges.length
  }

  type(i: number): string {
    return this.s.snapshot.meta.node_types[0][this.s.nodes[i * this.nw + this.at.type]!]!
  }

  name(i: number): string {
    return this.s.strings[this.s.nodes[i * this.nw + this.at.name]!]!
  }

  size(i: number): number {
    return this.s.nodes[i * this.nw + this.at.size]!
  }

  /** Constructor name for objects and closures, `(type)` for the rest (strings, arrays, code…). */
  label(i: number): string {
    const type = this.type(i)
    return type === 'object' || type === 'closure' || type === 'native' ? this.name(i) : `(${type})`
  }

  /** The node's outgoing edges: target, edge type, and the edge's name (or `[]` for an index). */
  *edges(i: number): Generator<{ to: number; type: string; name: string }> {
    const { s, ew, at } = this
    for (let e = this.firstEdge[i]!; e < this.firstEdge[i + 1]!; e += ew) {
      const type = s.snapshot.meta.edge_types[0][s.edges[e + at.edgeType]!]!
      const n = s.edges[e + at.edgeName]!
      yield { to: s.edges[e + at.to]! / this.nw, type, name: type === 'element' || type === 'hidden' ? '[]' : String(s.strings[n]) }
    }
  }
}

function census(file: string): Map<string, { count: number; size: number }> {
  const g = new HeapGraph(file)
  const out = new Map<string, { count: number; size: number }>()
  for (let i = 0; i < g.count; i++) {
    const key = `${g.type(i) === 'closure' ? 'closure ' : ''}${g.label(i)}`.slice(0, 80)
    const e = out.get(key) ?? { count: 0, size: 0 }
    e.count++
    e.size += g.size(i)
    out.set(key, e)
  }
  return out
}

function perConnection(before: string, after: string, n: number, top: number): void {
  const a = census(before)
  const rows = [...census(after)].map(([k, v]) => {
    const w = a.get(k) ?? { count: 0, size: 0 }
    return { k, count: (v.count - w.count) / n, size: (v.size - w.size) / n }
  }).filter((r) => r.count > 0.05 || r.size > 4).sort((x, y) => y.size - x.size)
  console.log(`per connection: ${rows.reduce((t, r) => t + r.size, 0).toFixed(0)} bytes of heap objects (self sizes)`)
  for (const r of rows.slice(0, top)) console.log(`${r.size.toFixed(0).padStart(7)} B  ${r.count.toFixed(2).padStart(6)} ×  ${r.k}`)
}

function owners(file: string, name: string): void {
  const g = new HeapGraph(file)
  const groups = new Map<string, { count: number; size: number }>()
  for (let i = 0; i < g.count; i++) {
    for (const edge of g.edges(i)) {
      if (edge.type === 'weak' || g.label(edge.to) !== name) continue
      const key = `${g.label(i).slice(0, 50)} .${edge.name.slice(0, 40)}`
      const group = groups.get(key) ?? { count: 0, size: 0 }
      group.count++
      group.size += g.size(edge.to)
      groups.set(key, group)
    }
  }
  for (const [k, v] of [...groups].sort((a, b) => b[1].size - a[1].size).slice(0, 40)) console.log(`${String(v.size).padStart(9)} B ${String(v.count).padStart(6)} ×  ${k}`)
}

function retainers(file: string, name: string): void {
  const g = new HeapGraph(file)
  // Breadth first from the root: the first path found to a node is a shortest one.
  const parent = new Int32Array(g.count).fill(-1)
  const via = new Array<string>(g.count)
  const seen = new Uint8Array(g.count)
  const queue = [0]
  seen[0] = 1
  for (let q = 0; q < queue.length; q++) {
    for (const edge of g.edges(queue[q]!)) {
      if (edge.type === 'weak' || edge.type === 'shortcut' || seen[edge.to]) continue
      seen[edge.to] = 1
      parent[edge.to] = queue[q]!
      via[edge.to] = edge.name
      queue.push(edge.to)
    }
  }
  const matches = queue.filter((i) => g.type(i) === 'object' && g.name(i) === name)
  console.log(`${matches.length} reachable objects named ${name}; the path to the first:`)
  const path: string[] = []
  for (let i = matches[0] ?? -1; i > 0; i = parent[i]!) path.push(`${g.type(i)} ${g.name(i).slice(0, 60)}  (via .${via[i]})`)
  for (const line of path.reverse()) console.log(`  ${line}`)
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '40' }, retainers: { type: 'string' }, owners: { type: 'string' } }
})
if (values.retainers !== undefined) retainers(positionals[0]!, values.retainers)
else if (values.owners !== undefined) owners(positionals[0]!, values.owners)
else if (positionals.length === 3) perConnection(positionals[0]!, positionals[1]!, Number(positionals[2]), Number(values.top))
else {
  console.error('usage: tsx ops/bench/heap-census.ts BEFORE.heapsnapshot AFTER.heapsnapshot N [--top 40] | --retainers NAME FILE | --owners NAME FILE')
  process.exit(2)
}
