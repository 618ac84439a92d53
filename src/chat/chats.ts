// Chats: open chats between two users, kept in the backplane's ChatStore. The chat_id is derived
// from the pair, so it is the same whoever opens it and on whichever instance; a pair is
// forgotten once both users are offline, so the store stays bounded by who is online.
import { createHash } from 'node:crypto'
import type { ChatStore } from '../backplane/backplane.ts'
import type { Awaitable } from '../lib/awaitable.ts'

export interface OpenedChat {
  chat_id: string
  /** The two user ids, sorted: the same list for both sides. */
  participants: [string, string]
  /** False when the chat was already open. */
  created: boolean
}

export function participants(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a]
}

export function chatId(a: string, b: string): string {
  const [x, y] = participants(a, b)
  return `chat_${createHash('sha256').update(`${x}\n${y}`).digest('hex').slice(0, 32)}`
}

/** Users whose chat ids Chats.idOf remembers before the map starts over. */
const REMEMBERED_USERS = 10_000

export class Chats {
  /** Lower user id → higher → chat id: two lookups on ids already hashed, not a pair key built per message. */
  private readonly ids = new Map<string, Map<string, string>>()

  constructor(
    private readonly store: ChatStore,
    private readonly isOnline: (userId: string) => boolean
  ) {}

  async open(a: string, b: string): Promise<OpenedChat> {
    const created = await this.store.open(a, b)
    return { chat_id: chatId(a, b), participants: participants(a, b), created }
  }

  /** chatId(a, b), remembered: the relay needs it for every stored MSG, and it is a SHA-256. */
  idOf(a: string, b: string): string {
    const x = a < b ? a : b
    const y = a < b ? b : a
    let ofX = this.ids.get(x)
    if (ofX === undefined) {
      if (this.ids.size >= REMEMBERED_USERS) this.ids.clear()
      this.ids.set(x, (ofX = new Map()))
    }
    let id = ofX.get(y)
    if (id === undefined) {
      if (ofX.size >= REMEMBERED_USERS) ofX.clear()
      ofX.set(y, (id = chatId(a, b)))
    }
    return id
  }

  isOpen(a: string, b: string): Awaitable<boolean> {
    return this.store.isOpen(a, b)
  }

  partners(userId: string): Promise<string[]> {
    return this.store.partners(userId)
  }

  /** `userId` went offline: close the chats whose other side is offline too. */
  async forget(userId: string): Promise<void> {
    for (const other of await this.store.partners(userId)) {
      if (!this.isOnline(other)) await this.store.close(userId, other)
    }
  }
}
