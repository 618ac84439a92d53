// Start the real app on a free port with a test's config overrides, capturing its log lines.
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { buildApp, type BuildOptions } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { WsTestClient, type ConnectOptions } from '../../src/testing/ws-test-client.ts'

export interface TestApp {
  app: FastifyInstance
  port: number
  http: string
  ws(path: string): string
  connect(path: string, opts?: ConnectOptions): Promise<WsTestClient>
  logs: string[]
  close(): Promise<void>
}

/**
 * `port`: listen there instead of a free port (a restart test starts a second app on the first one's port).
 * `httpLimits`: shorter HTTP timeouts, so a test sees them fire.
 */
export async function startApp(env: Record<string, string | number | boolean> = {}, opts: { port?: number } & Pick<BuildOptions, 'httpLimits'> = {}): Promise<TestApp> {
  const logs: string[] = []
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    }
  })
  // History in memory unless a test asks for a store: no test app writes ./data.
  const config = loadConfig({ PORT: 0, LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: 2000, HISTORY_STORE: 'memory', ...env })
  const app = await buildApp(config, { logStream, httpLimits: opts.httpLimits })
  await app.listen({ port: opts.port ?? 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const clients: WsTestClient[] = []
  return {
    app,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: (path) => `ws://127.0.0.1:${port}${path}`,
    async connect(path, opts) {
      const c = await WsTestClient.connect(`ws://127.0.0.1:${port}${path}`, opts)
      clients.push(c)
      return c
    },
    logs,
    async close() {
      for (const c of clients) c.terminate()
      await app.close()
    }
  }
}
