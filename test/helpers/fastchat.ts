// FastChat test helpers. The socket suites in test/fastchat/ take a `Start` function, so the same
// tests run against the in-process app here and against other deployments later (several
// instances behind a proxy): a deployment only has to open connections and close.
import { randomUUID } from 'node:crypto'
import { TimeoutError, type ConnectOptions, type WsTestClient } from '../../src/testing/ws-test-client.ts'
import { startApp } from './app.ts'

export type Env = Record<string, string | number | boolean>

export interface Deployment {
  connect(path: string, opts?: ConnectOptions): Promise<WsTestClient>
  close(): Promise<void>
  /** The server's resident memory in bytes, where the test can see it (in-process only). */
  serverRss?: () => number
}

export type Start = (env?: Env) => Promise<Deployment>

/** The app in this process, on a free port. */
export const inProcess: Start = async (env = {}) => {
  const s = await startApp(env)
  return { connect: s.connect, close: s.close, serverRss: () => process.memoryUsage().rss }
}

/* eslint-disable @typescript-eslint/no-explicit-any -- frames are asserted field by field */
export type Frame = any

export interface PresenceUser {
  user_id: string
  display_name: string
  online: boolean
}

export interface ChatUser {
  client: WsTestClient
  user_id: string
  display_name: string
  /** The full PRESENCE that followed HELLO_ACK. */
  presence: PresenceUser[]
}

export interface JoinOptions {
  user_id?: string
  capabilities?: string[]
  token?: string
  connect?: ConnectOptions
}

/** A deployment for one test, closed when the test ends. */
export async function deploy(t: { teardown(fn: () => unknown): void }, start: Start, env?: Env): Promise<Deployment> {
  const dep = await start(env)
  t.teardown(dep.close)
  return dep
}

/** A deployment for one test with Alice and Bob online, and with `chat` a chat open between them. */
export async function aliceAndBob(t: { teardown(fn: () => unknown): void }, start: Start, opts: { env?: Env; chat?: boolean } = {}) {
  const dep = await deploy(t, start, opts.env)
  const alice = await join(dep, 'Alice')
  const bob = await join(dep, 'Bob')
  if (opts.chat) await openChat(alice, bob)
  return { dep, alice, bob }
}

/** Open /ws, skip the greeting, HELLO; resolves after HELLO_ACK and the first PRESENCE. */
export async function join(dep: Deployment, display_name: string, opts: JoinOptions = {}): Promise<ChatUser> {
  const client = await dep.connect('/ws', opts.connect)
  const user_id = opts.user_id ?? randomUUID()
  const data: Record<string, unknown> = { user_id, display_name }
  if (opts.capabilities) data.capabilities = opts.capabilities
  if (opts.token) data.token = opts.token
  client.send({ type: 'HELLO', data })
  const frames = await client.receiveUntil((m: Frame) => m.type === 'HELLO_ACK' || m.type === 'ERROR', { timeout: 5000 })
  const last = frames[frames.length - 1]
  if (last.type !== 'HELLO_ACK') throw new Error(`HELLO refused: ${JSON.stringify(last)}`)
  const presence = await client.receiveJson()
  if (presence.type !== 'PRESENCE') throw new Error(`expected PRESENCE right after HELLO_ACK, got ${JSON.stringify(presence)}`)
  return { client, user_id, display_name, presence: presence.data.users }
}

/** The next frame of `type` (skipping others, PRESENCE broadcasts typically). */
export function next(client: WsTestClient, type: string, timeout = 3000): Promise<Frame> {
  return client.waitFor((m: Frame) => m.type === type, { timeout })
}

/** The next PRESENCE whose users satisfy `predicate`. */
export function presenceWhere(client: WsTestClient, predicate: (users: PresenceUser[]) => boolean, timeout = 3000): Promise<PresenceUser[]> {
  return client.waitFor((m: Frame) => m.type === 'PRESENCE' && predicate(m.data.users), { timeout }).then((m: Frame) => m.data.users)
}

export const ids = (users: PresenceUser[]): string[] => users.map((u) => u.user_id).sort()

/** Every frame that arrives within `ms`. */
export async function collect(client: WsTestClient, ms: number): Promise<Frame[]> {
  const seen: Frame[] = []
  try {
    await client.receiveUntil((m: Frame) => {
      seen.push(m)
      return false
    }, { timeout: ms })
  } catch (err) {
    if (!(err instanceof TimeoutError)) throw err
  }
  return seen
}

/** `a` opens a chat with `b`; resolves once both saw CHAT_OPENED. */
export async function openChat(a: ChatUser, b: ChatUser): Promise<string> {
  a.client.send({ type: 'OPEN_CHAT', data: { target_user_id: b.user_id, target_display_name: b.display_name } })
  const [mine] = await Promise.all([next(a.client, 'CHAT_OPENED'), next(b.client, 'CHAT_OPENED')])
  return mine.data.chat_id
}

export function msg(to: ChatUser, content: string, message_id?: string): Frame {
  return { type: 'MSG', data: message_id === undefined ? { to: to.user_id, content } : { to: to.user_id, content, message_id } }
}

export const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
