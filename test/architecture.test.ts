// The seams issue 14 drew, held by reading the sources: only src/backplane (and the Redis history
// store) knows Redis, only
// src/transport reaches into ws sockets and Node internals, and the metrics take frame types
// from their senders instead of parsing frames.
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(join(root, path)).isDirectory()) return name === 'dist' ? [] : sources(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

const read = (path: string) => readFileSync(join(root, path), 'utf8')
const offenders = (files: string[], pattern: RegExp) => files.filter((f) => pattern.test(read(f))).map((f) => relative(root, join(root, f)))

t.test('no plugin reaches behind the Backplane to Redis', async (t) => {
  t.same(offenders(sources('plugins'), /instanceof RedisBackplane|from ['"][^'"]*redis[^'"]*['"]|from ['"]ioredis['"]/), [])
})

t.test('only the backplane and the Redis history store import a Redis client', async (t) => {
  const files = [...sources('src'), ...sources('routes'), ...sources('plugins')]
    .filter((f) => !f.startsWith('src/backplane/') && !/^src\/history\/redis[^/]*\.ts$/.test(f))
  t.same(offenders(files, /from ['"]ioredis['"]/), [])
})

t.test('the native SQLite driver loads only in the SQLite history store (and its checkpoint worker)', async (t) => {
  const files = [...sources('src'), ...sources('routes'), ...sources('plugins')].filter((f) => f !== 'src/history/sqlite.ts')
  t.same(offenders(files, /from ['"]better-sqlite3['"]/), [])
})

t.test('only src/transport touches ws sockets\' and Node\'s internals', async (t) => {
  const files = [...sources('src'), ...sources('routes'), ...sources('plugins')].filter((f) => !f.startsWith('src/transport/'))
  t.same(offenders(files, /\.socket\.|_socket\b|_httpMessage/), [])
})

t.test('the metrics parse no frame to learn its type', async (t) => {
  t.same(offenders(sources('src/metrics'), /frameType|LEADING|fastType|\.exec\(/), [])
})
