// LocalHub: this instance's identified connections, by user, and the writing of a delivery to
// them. The backplane routes a frame to the instances holding its user; this is the last hop.
import type { Delivery, UserEntry } from '../backplane/backplane.ts'
import { appendToData } from '../protocol/fastchat.ts'
import type { ChatSession } from './session.ts'

export class LocalHub {
  /** user_id → the user's identified connections on this instance (never an empty set). */
  private readonly byUser = new Map<string, Set<ChatSession>>()

  /** Users with at least one connection here. */
  get size(): number {
    return this.byUser.size
  }

  sessionsOf(userId: string): ReadonlySet<ChatSession> {
    return this.byUser.get(userId) ?? EMPTY
  }

  /** Each local user's connections: whom a broadcast goes to. */
  perUser(): IterableIterator<ReadonlySet<ChatSession>> {
    return this.byUser.values()
  }

  add(session: ChatSession & { user: UserEntry }): void {
    const id = session.user.user_id
    let sessions = this.byUser.get(id)
    if (!sessions) this.byUser.set(id, (sessions = new Set()))
    sessions.add(session)
  }

  /** True when `session` was its user's last connection here. */
  remove(session: ChatSession): boolean {
    const id = session.user?.user_id
    const sessions = id === undefined ? undefined : this.byUser.get(id)
    if (!sessions?.delete(session) || sessions.size > 0) return false
    this.byUser.delete(id!)
    return true
  }

  /**
   * Write `delivery` to the user's open connections here (but its `except`); how many took it.
   * History connections get its history fields too, built once; one still being handed its
   * backlog keeps a stored MSG for after it (and has not taken it yet: the backlog's end marks it
   * delivered).
   */
  deliver(userId: string, delivery: Delivery): number {
    let taken = 0
    let extended: string | undefined
    const history = delivery.history
    for (const s of this.sessionsOf(userId)) {
      if (s.closed || s.ref === delivery.except) continue
      let frame = delivery.frame
      if (history && s.history) {
        if (s.backlogHold && history.seq !== undefined) {
          s.backlogHold.push(delivery)
          continue
        }
        frame = extended ??= appendToData(frame, history.fields)
      }
      if (delivery.droppable ? s.peer.sendDroppable(frame, delivery.label) : s.peer.send(frame, delivery.label)) taken++
    }
    return taken
  }
}

const EMPTY: ReadonlySet<ChatSession> = new Set()
