// A real redis-server for one test, on a free port, started by the test as a child process
// (never the system Redis on 6379), with persistence off: stopping it loses everything, like a
// crash of a cache-only Redis. Fault tests stop it and start it again on the same port.
import { spawn, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import { startApp, type TestApp } from './app.ts'
import type { Env, Start } from './fastchat.ts'

export interface TestRedis {
  port: number
  url: string
  /** Kill the server (SIGKILL: no goodbye to clients) and wait until it is gone. */
  stop(): Promise<void>
  /** Start it again on the same port, empty. */
  start(): Promise<void>
  /** A plain client for inspecting keys; closed with the server. */
  client(): Redis
  close(): Promise<void>
}

/**
 * A random port below Linux's ephemeral range (32768+), so no outgoing connection holds it;
 * launch() fails fast when a listener has it and we try another.
 */
const randomPort = () => 20_000 + Math.floor(Math.random() * 12_000)

function launch(port: number, timeoutMs = 5000): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`redis-server on ${port} did not start within ${timeoutMs} ms:\n${out}`))
    }, timeoutMs)
    const onData = (d: Buffer) => {
      out += d
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer)
        proc.stdout!.off('data', onData)
        proc.stdout!.resume() // keep draining its log
        resolve(proc)
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', (d: Buffer) => (out += d))
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server on ${port} exited with ${code}:\n${out}`))
    })
  })
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => proc.once('exit', () => resolve()))
}

export async function startRedis(): Promise<TestRedis> {
  let port = 0
  let proc: ChildProcess | undefined
  for (let attempt = 0; !proc; attempt++) {
    port = randomPort()
    try {
      proc = await launch(port)
    } catch (err) {
      if (attempt >= 4) throw err
    }
  }
  const clients: Redis[] = []
  const self: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (!proc) return
      const p = proc
      proc = undefined
      p.kill('SIGKILL')
      await exited(p)
    },
    async start() {
      if (!proc) proc = await launch(port)
    },
    client() {
      const c = new Redis(self.url, { maxRetriesPerRequest: 1 })
      c.on('error', () => {})
      clients.push(c)
      return c
    },
    async close() {
      for (const c of clients) c.disconnect()
      await self.stop()
    }
  }
  return self
}

export interface Instances {
  redis: TestRedis
  apps: TestApp[]
  close(): Promise<void>
}

/** `count` in-process instances of the app sharing one fresh Redis. */
export async function startInstances(count: number, env: Env = {}): Promise<Instances> {
  const redis = await startRedis()
  const apps: TestApp[] = []
  try {
    for (let i = 0; i < count; i++) apps.push(await startApp({ ...env, REDIS_URL: redis.url }))
  } catch (err) {
    for (const a of apps) await a.close()
    await redis.close()
    throw err
  }
  return {
    redis,
    apps,
    async close() {
      for (const a of apps) await a.close()
      await redis.close()
    }
  }
}

/**
 * A FastChat deployment of two instances over one Redis: connections alternate between them,
 * so in every suite the first user is on instance 1, the second on instance 2, and so on.
 */
export const twoInstances: Start = async (env = {}) => {
  const { apps, close } = await startInstances(2, env)
  let next = 0
  return {
    connect: (path, opts) => apps[next++ % apps.length]!.connect(path, opts),
    close
  }
}
