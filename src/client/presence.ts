// The presence a client keeps (SPEC section 3, "Presence"): a Map of who is online, replaced by
// a full list or patched by a delta, reporting what changed either way, so an application can
// render the list once and then update only the entries that moved.
import type { PresenceEntry } from '../protocol/wire.ts'

export class PresenceMap {
  readonly users = new Map<string, PresenceEntry>()

  /** A full list: everyone online now. Returns who came, went (online:false) or was renamed. */
  applyFull(list: readonly PresenceEntry[]): PresenceEntry[] {
    const next = new Map<string, PresenceEntry>()
    for (const u of list) if (u.online) next.set(u.user_id, { user_id: u.user_id, display_name: u.display_name, online: true })
    const changes: PresenceEntry[] = []
    for (const [id, old] of this.users) if (!next.has(id)) changes.push({ ...old, online: false })
    for (const [id, u] of next) if (this.users.get(id)?.display_name !== u.display_name) changes.push(u)
    this.users.clear()
    for (const [id, u] of next) this.users.set(id, u)
    return changes
  }

  /** Changed entries only (`online:false` for users who left). Returns the ones that changed anything. */
  applyDelta(list: readonly PresenceEntry[]): PresenceEntry[] {
    const changes: PresenceEntry[] = []
    for (const u of list) {
      const old = this.users.get(u.user_id)
      if (!u.online) {
        if (old && this.users.delete(u.user_id)) changes.push({ ...old, online: false })
        continue
      }
      const entry = { user_id: u.user_id, display_name: u.display_name, online: true }
      if (old?.display_name !== entry.display_name) changes.push(entry)
      this.users.set(u.user_id, entry)
    }
    return changes
  }
}
