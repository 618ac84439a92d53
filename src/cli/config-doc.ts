// Rewrites the configuration tables from the config schema (npm run config:doc), so the
// documented defaults and rules are the real ones: README.md's short table, and
// docs/configuration.md's table of every variable with the values startup accepts.
// test/config.test.ts fails when either drifts.
import { readFileSync, writeFileSync } from 'node:fs'
import { configRulesMarkdown, configTableMarkdown } from '../config.ts'

export const BEGIN = '<!-- config-table:begin -->'
export const END = '<!-- config-table:end -->'
export const RULES_BEGIN = '<!-- config-rules:begin -->'
export const RULES_END = '<!-- config-rules:end -->'

function between(doc: string, begin: string, end: string, table: string, file: string): string {
  const a = doc.indexOf(begin)
  const b = doc.indexOf(end)
  if (a === -1 || b === -1) throw new Error(`${file} needs ${begin} … ${end} markers`)
  return `${doc.slice(0, a + begin.length)}\n${table}\n${doc.slice(b)}`
}

export function withConfigTable(readme: string): string {
  return between(readme, BEGIN, END, configTableMarkdown(), 'README.md')
}

export function withRulesTable(doc: string): string {
  return between(doc, RULES_BEGIN, RULES_END, configRulesMarkdown(), 'docs/configuration.md')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files: [URL, (doc: string) => string][] = [
    [new URL('../../README.md', import.meta.url), withConfigTable],
    [new URL('../../docs/configuration.md', import.meta.url), withRulesTable]
  ]
  for (const [file, update] of files) writeFileSync(file, update(readFileSync(file, 'utf8')))
  console.log('README.md and docs/configuration.md config tables updated')
}
