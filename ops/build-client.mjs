#!/usr/bin/env node
// Builds src/client into its own package, packages/client (README there), always from scratch:
// - dist/index.js: ESM for bundlers and Node, readable, with a source map;
// - dist/switchboard-client.min.js: the same minified, for <script type="module"> in a browser;
// - dist/switchboard-client.global.js: a classic script defining `window.SwitchboardClient`;
// - dist/types/: declarations from tsc, with the repo's `.ts` import specifiers made `.js`, since
//   a consumer's TypeScript resolves a published package's declarations by their emitted names.
// The client imports no package at run time, so the bundles inline everything and the package
// has no dependencies. With --pack [dir], `npm pack` then writes the tarball into dir (default
// the package folder) and its path is the last line printed.
// Usage: node ops/build-client.mjs [--pack [dir]]
import { spawnSync } from 'node:child_process'
import process from 'node:process'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = join(root, 'packages/client')
const out = join(pkg, 'dist')
const entry = join(root, 'src/client/index.ts')
const say = (line) => process.stderr.write(`build-client: ${line}\n`)

/** Every file under `dir`. */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)])
}

function run(command, args, cwd) {
  const r = spawnSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
  if (r.status !== 0) {
    process.stderr.write(r.stdout ?? '')
    say(`${command} ${args.join(' ')} failed (${r.status ?? r.signal})`)
    process.exit(r.status ?? 1)
  }
  return r.stdout
}

rmSync(out, { recursive: true, force: true })
const common = { absWorkingDir: root, entryPoints: [entry], bundle: true, target: 'es2022', platform: 'neutral', logLevel: 'warning' }
try {
  await build({ ...common, format: 'esm', outfile: join(out, 'index.js'), sourcemap: true })
  await build({ ...common, format: 'esm', outfile: join(out, 'switchboard-client.min.js'), minify: true, sourcemap: true })
  await build({ ...common, format: 'iife', globalName: 'SwitchboardClient', outfile: join(out, 'switchboard-client.global.js'), minify: true, sourcemap: true })
} catch {
  process.exit(1) // esbuild has printed the errors
}
say('bundles written')

run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(pkg, 'tsconfig.json')], root)
for (const file of filesUnder(join(out, 'types'))) {
  const text = readFileSync(file, 'utf8')
  writeFileSync(file, text.replace(/(from '\.{1,2}\/[^']+)\.ts'/g, "$1.js'"))
}
say('declarations written')

const at = process.argv.indexOf('--pack')
if (at !== -1) {
  const dest = process.argv[at + 1] && !process.argv[at + 1].startsWith('--') ? process.argv[at + 1] : pkg
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dest], pkg))
  process.stdout.write(`${join(dest, packed[0].filename)}\n`)
}
