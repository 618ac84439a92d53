// A WebSocket handshake sent with a plain HTTP client, to read a refusal's status, Retry-After
// and body (a WebSocket client reports only the status).
import http from 'node:http'
import type { TestApp } from './app.ts'

/** The handshake's status (101 when it was accepted), Retry-After and body. */
export function handshake(app: TestApp, path: string, opts: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({
      host: '127.0.0.1', port: app.port, path, localAddress: opts.localAddress,
      agent: false, // a kept-alive socket the server already closed would fail the next request
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...opts.headers }
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, retryAfter: undefined, body: '' })
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }))
    })
    req.on('error', reject)
  })
}
