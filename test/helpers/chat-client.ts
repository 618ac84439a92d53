// Helpers for tests of the FastChat client SDK (src/client) in Node: clients on `ws`, closed
// when the test ends, and waits for one event with a timeout that says what was awaited.
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { FastChatClient, type FastChatClientOptions, type FastChatEvents } from '../../src/client/index.ts'

export type ClientOptions = Partial<Omit<FastChatClientOptions, 'url' | 'WebSocket'>>

/** A client on `url` (not yet connected), closed at teardown. */
export function chatClient(t: { teardown(fn: () => unknown): void }, url: string, opts: ClientOptions = {}): FastChatClient {
  const client = new FastChatClient({ url, WebSocket, ...opts })
  t.teardown(() => client.close())
  return client
}

export interface Joined {
  client: FastChatClient
  user_id: string
  display_name: string
}

/** A client that said HELLO and got HELLO_ACK and its first PRESENCE. */
export async function joinAs(
  t: { teardown(fn: () => unknown): void }, url: string, display_name: string, { user_id = randomUUID(), ...opts }: ClientOptions & { user_id?: string } = {}
): Promise<Joined> {
  const client = chatClient(t, url, opts)
  const presence = nextEvent(client, 'presence')
  await client.hello({ user_id, display_name })
  await presence
  return { client, user_id, display_name }
}

/** The next `event` whose payload satisfies `predicate`. */
export function nextEvent<K extends keyof FastChatEvents>(
  client: FastChatClient,
  event: K,
  predicate: (payload: FastChatEvents[K]) => boolean = () => true,
  timeout = 5000
): Promise<FastChatEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`timed out after ${timeout} ms waiting for the client's '${String(event)}' event`))
    }, timeout)
    const off = client.on(event, (payload) => {
      if (!predicate(payload)) return
      clearTimeout(timer)
      off()
      resolve(payload)
    })
  })
}

/** Every payload of `event` from now on (for asserting what arrived, and how often). */
export function record<K extends keyof FastChatEvents>(client: FastChatClient, event: K): FastChatEvents[K][] {
  const seen: FastChatEvents[K][] = []
  client.on(event, (p) => seen.push(p))
  return seen
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
