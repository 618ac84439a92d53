// The README stands alone: every link in it points at a file of this repository (or a heading in
// one), and every such file and heading exists. A link to a document outside the repository, or
// one that a move left dangling, fails here.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'

const root = new URL('..', import.meta.url)
const read = (path: string) => readFileSync(new URL(path, root), 'utf8')

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/\s/g, '-')
const anchors = (md: string) => new Set([...md.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)))

t.test('every README link is a file or heading of this repository', async (t) => {
  const readme = read('README.md')
  const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
  t.ok(links.length > 10, `links found (${links.length})`)
  for (const link of links) {
    t.notMatch(link, /^[a-z]+:/i, `${link}: not outside the repository`)
    t.notMatch(link, /^\.\.\//, `${link}: not above the repository`)
    const [file, anchor] = link.split('#') as [string, string | undefined]
    const target = file === '' ? 'README.md' : file
    t.ok(existsSync(new URL(target, root)), `${link}: ${target} exists`)
    if (anchor && target.endsWith('.md')) t.ok(anchors(read(target)).has(anchor), `${link}: heading #${anchor} exists`)
  }
})
