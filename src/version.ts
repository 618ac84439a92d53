// The service version, from package.json: read once, found by walking up from this file so it
// works from src/ (tsx) and from dist/src/ (compiled) alike.
import { readFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'switchboard' && pkg.version) return pkg.version
    }
    dir = dirname(dir)
  }
  return '0.0.0'
}

export const VERSION = findVersion()
