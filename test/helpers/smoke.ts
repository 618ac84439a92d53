// Run ops/ws_smoke.sh as an operator would, for the smoke and nginx suites.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** The checks, in the order the script prints them. */
export const CHECKS = ['GET /health', '/ws/echo round trip', '/ws/health welcome', '/ws/health heartbeat', '/ws ping/pong', 'clean close 1000']

export interface SmokeRun {
  code: number | null
  out: string
  lines: string[]
  ms: number
}

/** Run ops/ws_smoke.sh (or the copy at `script`) with `args`; SMOKE_CLIENT defaults to the Node CLI for determinism. */
export function runSmoke(args: string[], env: Record<string, string> = {}, script = join(root, 'ops/ws_smoke.sh')): Promise<SmokeRun> {
  const started = Date.now()
  return new Promise((resolve) => {
    const p = spawn('bash', [script, ...args], {
      cwd: root,
      env: { ...process.env, SMOKE_CLIENT: 'node', ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (out += d))
    p.on('exit', (code) => resolve({ code, out, lines: out.split('\n').filter((l) => /^[✓✗] /.test(l)), ms: Date.now() - started }))
  })
}

