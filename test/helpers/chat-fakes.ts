// Socket-free fixtures for the FastChat domain tests: peers that record frames, and a service
// wired to an in-memory backplane (several instances may share one MemoryHub, each with its own
// LocalHub).
import { randomUUID } from 'node:crypto'
import { MemoryBackplane, MemoryHub } from '../../src/backplane/memory.ts'
import { LocalHub } from '../../src/chat/hub.ts'
import { Presence } from '../../src/chat/presence.ts'
import { RateLimits } from '../../src/chat/rate-limits.ts'
import { WindowCounter } from '../../src/lib/window-counter.ts'
import { ChatService } from '../../src/chat/service.ts'
import type { ChatPeer, ChatSession } from '../../src/chat/session.ts'
import type { OutText } from '../../src/lib/text-parts.ts'
import type { HistoryStore } from '../../src/history/store.ts'

export class FakePeer implements ChatPeer {
  static next = 0
  readonly id = `peer_${++FakePeer.next}`
  readonly frames: string[] = []
  /** Past the soft cap: droppable frames are skipped. */
  slow = false
  /** Past the hard cap or closed: nothing is taken. */
  dead = false
  closedWith: { code: number; reason: string } | undefined

  /** Records the frame's text (text in pieces decoded, as a socket's reader would see it). */
  send(frame: OutText): boolean {
    if (this.dead) return false
    this.frames.push(String(frame))
    return true
  }

  sendDroppable(frame: OutText): boolean {
    return this.slow ? false : this.send(frame)
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason }
  }

  /** As Conn's: a 1011 close (the log line is the transport's). */
  fail(err: unknown): void {
    this.failedWith = err
    this.close(1011, 'internal error')
  }

  failedWith: unknown

  /* eslint-disable-next-line @typescript-eslint/no-explicit-any -- frames are asserted field by field */
  get messages(): any[] {
    return this.frames.map((f) => JSON.parse(f))
  }

  ofType(type: string) {
    return this.messages.filter((m) => m.type === type)
  }

  clear(): void {
    this.frames.length = 0
  }
}

export interface Instance {
  backplane: MemoryBackplane
  /** This instance's connections by user. */
  hub: LocalHub
  presence: Presence
  chat: ChatService
  /** A connection that said HELLO. */
  connect(name: string, userId?: string, capabilities?: string[]): Promise<{ peer: FakePeer; session: ChatSession; userId: string }>
  close(): Promise<void>
}

export interface InstanceOptions {
  /** A history store for SPEC 9 (none: the capability is ignored). */
  history?: HistoryStore
  debounceMs?: number
  msgPerMin?: number
  typingPerMin?: number
}

export async function instance(shared: MemoryHub = new MemoryHub(), opts: InstanceOptions = {}): Promise<Instance> {
  const backplane = new MemoryBackplane(shared)
  const hub = new LocalHub()
  const presence = new Presence(backplane, { debounceMs: opts.debounceMs ?? 10 }, hub)
  await presence.start()
  const limits = new RateLimits({
    msg: new WindowCounter(opts.msgPerMin ?? 1000, 60_000),
    typing: new WindowCounter(opts.typingPerMin ?? 1000, 60_000)
  })
  const tokens = { enabled: false, verify: async () => null }
  const chat = new ChatService(backplane, presence, limits, tokens, { authRequired: false, history: opts.history })
  return {
    backplane,
    hub,
    presence,
    chat,
    async connect(name, userId = randomUUID(), capabilities) {
      const peer = new FakePeer()
      const session = chat.session(peer)
      await chat.dispatch(session, { type: 'HELLO', data: { user_id: userId, display_name: name, ...(capabilities ? { capabilities } : {}) } })
      if (!session.user) throw new Error(`HELLO failed: ${peer.frames.join('\n')}`)
      return { peer, session, userId }
    },
    async close() {
      chat.stop()
      presence.stop()
      await backplane.close()
    }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type Connected = Awaited<ReturnType<Instance['connect']>>

/** An instance for one test, closed when the test ends. */
export async function setup(t: { teardown(fn: () => unknown): void }, opts: InstanceOptions = {}): Promise<Instance> {
  const node = await instance(new MemoryHub(), opts)
  t.teardown(node.close)
  return node
}

export async function openChat(node: Instance, from: Connected, to: Connected): Promise<void> {
  return node.chat.dispatch(from.session, { type: 'OPEN_CHAT', data: { target_user_id: to.userId } })
}

export async function sendMsg(node: Instance, from: Connected, to: Connected, content: string, message_id: string): Promise<void> {
  return node.chat.dispatch(from.session, { type: 'MSG', data: { to: to.userId, content, message_id } })
}
