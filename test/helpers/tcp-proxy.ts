// A TCP proxy in front of a server whose connections can be stalled: the TCP connection stays
// up but bytes stop flowing, which is how a dead network path (a sleeping laptop, a NAT that
// forgot the mapping) looks to a WebSocket client. Only a heartbeat notices it.
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

interface Pair {
  client: Socket
  upstream: Socket
  /** Bytes from the client to the server are dropped. */
  stallUp: boolean
  /** Bytes from the server to the client are dropped. */
  stallDown: boolean
}

export class TcpProxy {
  private readonly pairs = new Set<Pair>()

  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port)
    server.on('connection', (client) => proxy.pipe(client, targetPort))
    return proxy
  }

  /** Connections made so far, open or not. */
  connections = 0

  /**
   * Stall every connection open now; later connections flow normally. `to-client` drops only
   * what the server sends (the client's frames still arrive: a lost acknowledgement).
   */
  stall(direction: 'both' | 'to-client' = 'both'): void {
    for (const p of this.pairs) {
      p.stallDown = true
      if (direction === 'both') p.stallUp = true
    }
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy()
      p.upstream.destroy()
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private pipe(client: Socket, targetPort: number): void {
    this.connections++
    const upstream = connect(targetPort, '127.0.0.1')
    const pair: Pair = { client, upstream, stallUp: false, stallDown: false }
    this.pairs.add(pair)
    client.on('data', (d) => void (pair.stallUp || upstream.write(d)))
    upstream.on('data', (d) => void (pair.stallDown || client.write(d)))
    const end = () => {
      this.pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    for (const s of [client, upstream]) {
      s.on('close', end)
      s.on('error', end)
    }
  }
}
