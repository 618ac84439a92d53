// The state FastChat instances share, behind one interface: presence across the service,
// deliveries to a user's connections wherever they are, open chats, expiring keys, rate
// limiters and fan-outs. memory.ts in one process, redis.ts across instances; nothing else
// knows which runs. Calls on a chat message's path return Awaitable, so the relay stays
// synchronous over memory (src/chat/relay.ts).
import type { Awaitable } from '../lib/awaitable.ts'

/** A user as presence lists them. */
export interface UserEntry {
  user_id: string
  display_name: string
}

/** A service-wide presence change, delivered to every instance (the one that caused it too). */
export interface PresenceChange extends UserEntry {
  online: boolean
  /**
   * Offline with no goodbye from the user's own instance: it died (its lease was swept), or the
   * user left while Redis was away. Nobody told the user's partners that a TYPING ended.
   */
  lost?: boolean
}

/** A frame for every connection of one user, wherever they are. */
export interface Delivery {
  /** Serialized once by the sending instance; receivers write this exact string. */
  frame: string
  /** The frame's message type, for the metrics of every connection it is written to. */
  label: string
  /** Typing and presence: may be skipped for a connection that is slow to read. */
  droppable: boolean
  /** A connection (see `connRef`) that must not get it: the sender's own tab. */
  except?: string
  /** What connections with the `history` capability get on top of `frame` (SPEC section 9). */
  history?: HistoryExtra
}

/** The history fields of a delivery: legacy connections get `frame` as it is, history ones get these too. */
export interface HistoryExtra {
  /** JSON members appended to the frame's data, e.g. `"chat_id":"chat_…","seq":7`. */
  fields: string
  /** A stored MSG's place in its log, so a connection catching up on its backlog holds it and skips what it already sent. */
  chat_id?: string
  seq?: number
}

/** What an instance does with what reaches it: src/chat/presence.ts backplaneHandlers() sends deliveries to the LocalHub, changes to Presence. */
export interface BackplaneHandlers {
  presence(change: PresenceChange): void
  /** Write `delivery` to this instance's connections of `userId`; how many took it. */
  deliver(userId: string, delivery: Delivery): number
}

export interface PresenceRegistry {
  /**
   * This instance now holds at least one connection of `user` (call again to rename). True
   * when the service-wide entry changed: the user came online or got a new display name.
   */
  join(user: UserEntry): Promise<boolean>
  /** This instance holds no connection of the user any more. True when the user went offline. */
  leave(userId: string): Promise<boolean>
  /** Everyone online, on every instance, in the order they came online. */
  list(): Promise<UserEntry[]>
  /**
   * The display name of a user online on any instance, asked of the shared store itself: for an
   * id this instance has not heard of yet (its join event may still be on the way).
   */
  lookup(userId: string): Awaitable<string | undefined>
}

/** Open chats, as unordered pairs of user ids. */
export interface ChatStore {
  /** True when this call opened it, false when it was already open. */
  open(a: string, b: string): Promise<boolean>
  isOpen(a: string, b: string): Awaitable<boolean>
  partners(userId: string): Promise<string[]>
  close(a: string, b: string): Promise<void>
}

/**
 * What expiring keys hold: message ids a sender used (dedupe), whom a recipient confirms to
 * (receipt), a flat user's current chat partner (partner, src/chat/flat.ts).
 */
export type KeySpace = 'dedupe' | 'receipt' | 'partner'

/**
 * Keys that expire (Redis: SET NX PX, GET, GETDEL, DEL), named by a space, an owner (a user id,
 * or `current` for flat users' current partners) and an id (a message id, a chat id, a user id):
 * `<space>:<owner>:<id>` in Redis. Three parts rather than one string so
 * the in-memory store looks keys up without building a string per operation (src/lib/ttl-map.ts).
 */
export interface KeyStore {
  /** Set when absent; true when this call set it. */
  claim(space: KeySpace, owner: string, id: string, value: string, ttlMs: number): Awaitable<boolean>
  put(space: KeySpace, owner: string, id: string, value: string, ttlMs: number): Awaitable<void>
  get(space: KeySpace, owner: string, id: string): Awaitable<string | undefined>
  /** Get and delete. */
  take(space: KeySpace, owner: string, id: string): Awaitable<string | undefined>
  delete(space: KeySpace, owner: string, id: string): Awaitable<void>
}

export interface Backplane {
  /** Unique per running instance. */
  readonly instanceId: string
  /**
   * False while a shared store (Redis) is unreachable: the instance serves its own users from
   * its own state meanwhile, and /health answers 503 so a proxy prefers healthy instances.
   */
  readonly healthy: boolean
  readonly presence: PresenceRegistry
  readonly chats: ChatStore
  readonly keys: KeyStore
  /**
   * Per-key limits of `points` per `durationS`, in fixed windows that open at a key's first
   * point, counted by every instance that asks for `name` (Redis keys `sb:rl:<name>:<key>`).
   * In memory the limiter answers synchronously.
   */
  limiter(name: string, points: number, durationS: number): Limiter
  /** The fan-out for `space`, one per instance: ask again and get the same one. */
  fanout(space: FanoutSpace): Fanout
  /** Start receiving presence changes and deliveries for this instance. Called once. */
  attach(handlers: BackplaneHandlers): Promise<void>
  /** Hand `delivery` to every connection of `userId` on every instance; how many took it. */
  deliver(userId: string, delivery: Delivery): Awaitable<number>
  /** Leave: this instance's users drop out of presence, deliveries stop. */
  close(): Promise<void>
}

/** Counts points per key; src/lib/window-counter.ts is the in-process one. */
export interface Limiter {
  /** Count one point for `key`: 0 when allowed, else the milliseconds until the next one would be. */
  consume(key: string): Awaitable<number>
}

/** Fan-outs other than chat, each with its own channels (`sb:w:<topic>` for walkers). */
export type FanoutSpace = 'walker'

/** Hands a serialized frame to one subscriber. */
export type FanoutDelivery = (frame: string) => void

/**
 * A frame for every subscriber of a topic, on every instance (walker broadcasts). Delivery is at
 * most once and only while the shared store is up: what needs an answer goes through deliver().
 */
export interface Fanout {
  /**
   * Subscribers on this instance are called before publish returns, so a caller's own frames
   * keep their order; other instances may receive it later.
   */
  publish(topic: string, frame: string): void
  /** Receive the frames published on `topic`. Returns the unsubscribe, called on close. */
  subscribe(topic: string, deliver: FanoutDelivery): () => void
}

/** A service-wide name for a connection, for `Delivery.except`. */
export function connRef(instanceId: string, connId: string): string {
  return `${instanceId}/${connId}`
}
