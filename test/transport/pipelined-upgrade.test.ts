// A WebSocket handshake pipelined behind a plain request on one TCP connection (sent before the
// request's answer): Node emits 'upgrade' while that answer is still being written. Handed on, the
// direct routes' sockets had two owners and Node's assertion ended the process when the earlier
// response finished; Fastify's routes (walkers) left the socket open, past admission and every
// timeout. Such a connection is closed now, and nobody else notices.
import t from 'tap'
import { connect } from 'node:net'
import { randomBytes } from 'node:crypto'
import { startApp } from '../helpers/app.ts'

/** Everything the server wrote on one TCP connection carrying `GET first` and an upgrade to `path`, until it closed. */
function pipelined(port: number, first: string, path: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      sock.destroy()
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false })
    }, 3000)
    sock.on('data', (d) => chunks.push(d))
    sock.on('error', reject)
    sock.on('close', () => {
      clearTimeout(timer)
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true })
    })
    sock.write(
      `GET ${first} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n` +
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`
    )
  })
}

t.test('a handshake pipelined behind an unanswered request closes that connection only; the process and other clients go on', async (t) => {
  const s = await startApp({ LOG_LEVEL: 'info', MAX_CONNECTIONS_PER_IP: 3 })
  t.teardown(s.close)
  const bystander = await s.connect('/ws/echo')
  t.equal((await bystander.receiveJson()).type, 'welcome')

  // Each twice: more than the per-address cap's room (3, one taken by the bystander), so a
  // connection that escaped admission would show as one the cap never counted.
  for (const [first, path] of [['/health', '/ws'], ['/ws', '/ws/echo'], ['/health', '/ws/health'], ['/health', '/ws/EchoMessage']]) {
    for (let i = 0; i < 2; i++) {
      const { text, closed } = await pipelined(s.port, first!, path!)
      t.ok(closed, `${first} then ${path}: the server closed the connection`)
      t.notMatch(text, /101 Switching Protocols/, 'and never switched it to WebSocket')
    }
  }
  t.equal(s.logs.filter((l) => l.includes('websocket upgrade pipelined behind an unanswered request')).length, 8, 'each logged')

  bystander.send(JSON.stringify({ message: 'still here' }))
  t.match(await bystander.receiveJson(), { type: 'echo', original: { message: 'still here' } }, 'a client connected all along is served')
  t.equal((await fetch(`${s.http}/health`)).status, 200, 'the process is up')
  t.equal(s.app.admission.caps.size, 1, 'admission counts the bystander only')
  // Without a pipelined request in front, a keep-alive connection may still upgrade after a request.
  const after = await s.connect('/ws')
  t.equal((await after.receiveJson()).type, 'WELCOME')
})
