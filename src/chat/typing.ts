// TypingRelay: TYPING frames to users through the backplane. Each connection remembers whom
// it told `is_typing: true`, so that when it goes those users get `is_typing: false` instead of
// an indicator stuck on.
import type { Backplane, Delivery } from '../backplane/backplane.ts'
import { typingFrame } from '../protocol/fastchat.ts'
import type { ChatSession } from './session.ts'

export class TypingRelay {
  constructor(private readonly backplane: Backplane) {}

  async relay(from: ChatSession, to: readonly string[], isTyping: boolean): Promise<void> {
    if (!from.user || to.length === 0) return
    const frame = typingFrame(from.user.user_id, isTyping)
    for (const userId of to) {
      if (isTyping) from.typingTo.add(userId)
      else from.typingTo.delete(userId)
      // "Started typing" may be dropped for a slow reader; "stopped" must arrive or it sticks.
      await this.backplane.deliver(userId, { frame, label: 'TYPING', droppable: isTyping })
    }
  }

  /** The connection left: whoever saw it typing sees it stop. */
  stop(session: ChatSession): Promise<void> {
    return this.relay(session, [...session.typingTo], false)
  }

  /**
   * `userId` went offline without a goodbye (their instance died, or they left while Redis was
   * away), so no stop() ran for their connections: each partner here gets `is_typing: false`.
   * Who saw `true` died with that instance, so every partner here gets it; a partner who saw
   * none gets a stop of something that never started, which clients take as a no-op. Every
   * instance hears of the loss and tells only its own connections.
   */
  lost(userId: string, partners: readonly string[], deliverHere: (userId: string, delivery: Delivery) => number): void {
    const delivery: Delivery = { frame: typingFrame(userId, false), label: 'TYPING', droppable: false }
    for (const partner of partners) deliverHere(partner, delivery)
  }
}
