// Connection ids: `<prefix>_<epoch ms>_<5 random digits>` (SPEC section 0), unique within the
// process. Random digits alone could collide in the same millisecond, so live ids are tracked
// and a collision draws again; ids are released when their connection closes.
import { randomInt } from 'node:crypto'

export type ClientIdPrefix = 'ws_client' | 'echo_client' | 'health_client' | 'walker_client'

export class ClientIds {
  private readonly live = new Set<string>()

  next(prefix: ClientIdPrefix): string {
    for (;;) {
      const id = `${prefix}_${Date.now()}_${String(randomInt(0, 100_000)).padStart(5, '0')}`
      if (!this.live.has(id)) {
        this.live.add(id)
        return id
      }
    }
  }

  release(id: string): void {
    this.live.delete(id)
  }

  get size(): number {
    return this.live.size
  }
}
