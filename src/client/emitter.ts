// A typed event emitter that runs in browsers and Node alike (no node:events, no EventTarget
// subclassing), keyed by an event map: `on('MSG', (data) => …)` gets MSG's data type.

export type Listener<T> = (payload: T) => void

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>()

  /** Returns the function that removes the listener. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event)
    if (!set) this.listeners.set(event, (set = new Set()))
    set.add(listener as Listener<never>)
    return () => this.off(event, listener)
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off()
      listener(payload)
    })
    return off
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>)
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event)
    if (!set) return
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload)
      } catch (err) {
        // A faulty listener must not leave the client half-way through a state change; the
        // error still surfaces as an uncaught exception, where the application sees it.
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }
}
