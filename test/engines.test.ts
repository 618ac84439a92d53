// The Node versions the project says it runs on (package.json engines, >=20) are the ones every
// installed package accepts: `npm install` on Node 20 prints no EBADENGINE. Read from the lock
// file, which records each package's own `engines`, so a dependency update that raises a
// transitive package's floor fails here rather than in a newcomer's terminal.
import t from 'tap'
import { readFileSync } from 'node:fs'
import semver from 'semver'

const root = new URL('..', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>
}

t.test('every locked package accepts the oldest Node the project supports, and the one running', async (t) => {
  const oldest = semver.minVersion(pkg.engines.node)!.version
  t.ok(semver.satisfies(process.version, pkg.engines.node), `this Node (${process.version}) is within engines ${pkg.engines.node}`)
  const refusing: string[] = []
  for (const [path, entry] of Object.entries(lock.packages)) {
    const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined
    if (!range || path === '') continue
    for (const node of [oldest, process.version]) {
      if (!semver.satisfies(node, range)) refusing.push(`${path}@${entry.version} wants node ${range} (not ${node})`)
    }
  }
  t.same(refusing, [], 'no package would print EBADENGINE')
})
