// A WebSocket stand-in for driving the client SDK frame by frame, with no server: the test opens
// it, hands it the server's frames and reads what the client wrote. For orders of events a real
// server would make a race of (a lost ack, then a catch-up page, then an error).
export class FakeSocket {
  /** Every socket made, in order: the client makes a new one per (re)connect. */
  static made: FakeSocket[] = []
  readyState = 0
  /** What the client wrote, parsed. */
  readonly sent: Array<{ type: string; data?: Record<string, unknown> }> = []
  private readonly listeners: Record<string, Array<(e: unknown) => void>> = {}

  constructor(readonly url: string) {
    FakeSocket.made.push(this)
  }

  static get last(): FakeSocket {
    return FakeSocket.made.at(-1)!
  }

  addEventListener(type: string, listener: (e: unknown) => void): void {
    ;(this.listeners[type] ??= []).push(listener)
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data))
  }

  close(): void {
    this.readyState = 3
  }

  /** The server accepted the handshake. */
  open(): void {
    this.readyState = 1
    this.emit('open', {})
  }

  /** A frame from the server. */
  receive(type: string, data: unknown): void {
    this.emit('message', { data: JSON.stringify({ type, data }) })
  }

  /** The connection died. */
  drop(): void {
    this.readyState = 3
    this.emit('close', { code: 1006, reason: '' })
  }

  private emit(type: string, event: unknown): void {
    for (const listener of this.listeners[type] ?? []) listener(event)
  }
}

export const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))
