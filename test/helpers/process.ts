// Spawn the real service (src/server.ts under tsx) as its own process, for signals, exit
// codes and startup failures.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

export interface ServerProcess {
  proc: ChildProcess
  port: number
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function runServer(env: Record<string, string>): { proc: ChildProcess; output: () => string; exited: ServerProcess['exited'] } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    // History in memory unless the test asks for a store: no spawned server writes ./data.
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', HISTORY_STORE: 'memory', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })))
  return { proc, output: () => out, exited }
}

/** Start the service and resolve once it listens, with the port it picked. */
export async function startServer(env: Record<string, string> = {}, timeoutMs = 15_000): Promise<ServerProcess> {
  const s = runServer(env)
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      s.proc.kill('SIGKILL') // no caller gets a handle on a server that never started: do not leave it running
      reject(new Error(`server did not start within ${timeoutMs} ms:\n${s.output()}`))
    }, timeoutMs)
    const check = () => {
      const m = /Server listening at http:\/\/[^:]+:(\d+)/.exec(s.output())
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    }
    s.proc.stdout!.on('data', check)
    s.exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`server exited before listening:\n${s.output()}`))
    })
  })
  return { ...s, port }
}
