// Files the build makes and the service reads at startup (the chat page's bundle). A missing
// one stops startup with one line saying which command makes it, instead of a page whose
// script 404s.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'

export class MissingBuildError extends Error {
  override name = 'MissingBuildError'
}

export function readBuilt(path: string, command: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    throw new MissingBuildError(`${relative(process.cwd(), path) || path} is missing; run \`${command}\` (npm start and npm test run it)`)
  }
}
