// A slow source of the admin feed (Redis: the instance list, a user's open chats) read under a
// time limit. A tick goes out every second with its own sample; while Redis hangs, each command
// waits for the command timeout (a second), so a tick that waited for them would come late and
// the next samples would pile up behind it. Here a read waits at most `limitMs`, then takes the
// last answer the source gave (marked not fresh); at most one fetch is in flight, so a hung Redis
// is asked once at a time, not once a tick.
import { LATE, within } from '../lib/awaitable.ts'

export interface Read<T> {
  /** This read's answer when `fresh`; otherwise the last answer there was (undefined: none yet). */
  value: T | undefined
  fresh: boolean
  /** Why it is not fresh: the source failed, or did not answer within the limit. */
  error?: string
}

export class Lookup<T> {
  private pending: Promise<T> | undefined
  private last: T | undefined

  constructor(private readonly fetch: () => Promise<T>) {}

  async read(limitMs: number): Promise<Read<T>> {
    try {
      const value = await within(this.pending ?? this.start(), limitMs)
      if (value === LATE) return { value: this.last, fresh: false, error: `no answer within ${limitMs} ms` }
      return { value, fresh: true }
    } catch (err) {
      return { value: this.last, fresh: false, error: (err as Error).message }
    }
  }

  private start(): Promise<T> {
    const answer = this.fetch().then((value) => (this.last = value))
    this.pending = answer
    // Whoever asked has its own copy; this one only ends the flight (and must not reject unheard).
    answer.then(() => (this.pending = undefined), () => (this.pending = undefined))
    return answer
  }
}
