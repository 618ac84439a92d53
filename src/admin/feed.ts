// The frames of /admin/ws (docs/admin.md), in one place for both ends: the server
// (src/admin/console.ts) writes them, the page (src/web/admin.ts) reads them. Types only.
import type { InstanceRow } from '../backplane/instance-board.ts'
import type { Surface } from '../transport/connections.ts'
import type { Sample } from './sampler.ts'
import type { UserList } from './users.ts'

export type { InstanceRow, Sample, Surface, UserList }
export type { AdminUser } from './users.ts'

/**
 * With Redis: every instance, or why there is no list this second, with the last list Redis gave
 * (absent if it never gave one) for the console to keep showing.
 */
export type Instances = { rows: InstanceRow[] } | { error: string; rows?: InstanceRow[] }

/** Once, when the console connects: the sampler's window is the charts' history. */
export interface Hello {
  type: 'hello'
  instance: string
  version: string
  started_at: number
  surfaces: readonly Surface[]
  redis: boolean
  close_default: { code: number; reason: string }
  history: readonly Sample[]
}

/** Every second. `instances` is absent without Redis. */
export interface Tick {
  type: 'tick'
  sample: Sample
  users: UserList
  instances: Instances | undefined
}

/** The answer to a disconnect request (and the HTTP action's body). */
export interface Disconnected {
  user_id: string
  code: number
  reason: string
  /** Connections of the user on this instance that were closed. */
  closed: number
}

export interface RequestError {
  type: 'error'
  request?: unknown
  message: string
}

export type ServerFrame = Hello | Tick | ({ type: 'disconnected' } & Disconnected) | RequestError
