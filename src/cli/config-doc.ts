// Rewrites the config table in README.md from the config schema (npm run config:doc), so the
// documented defaults are the real ones. test/config.test.ts fails when the two drift.
import { readFileSync, writeFileSync } from 'node:fs'
import { configTableMarkdown } from '../config.ts'

export const BEGIN = '<!-- config-table:begin -->'
export const END = '<!-- config-table:end -->'

export function withConfigTable(readme: string): string {
  const a = readme.indexOf(BEGIN)
  const b = readme.indexOf(END)
  if (a === -1 || b === -1) throw new Error(`README.md needs ${BEGIN} … ${END} markers`)
  return `${readme.slice(0, a + BEGIN.length)}\n${configTableMarkdown()}\n${readme.slice(b)}`
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = new URL('../../README.md', import.meta.url)
  writeFileSync(file, withConfigTable(readFileSync(file, 'utf8')))
  console.log('README.md config table updated')
}
