// What the service remembers about recent messages, in the backplane's expiring keys: which
// message_ids each sender used in the last 10 minutes (a retry is acknowledged, not delivered
// twice) and who sent what a recipient may confirm (MSG_ACK → `received` to the sender).
// Keys are (space, user id, message_id); in Redis `<space>:<user uuid>:<message_id>`, where the
// uuid's fixed shape keeps any two apart.
import type { KeyStore } from '../backplane/backplane.ts'
import type { Awaitable } from '../lib/awaitable.ts'

export const DEDUPE_TTL_MS = 10 * 60_000
/** A recipient confirming later than this gets no `received` relayed. */
export const RECEIPT_TTL_MS = 10 * 60_000

export class MessageLedger {
  constructor(private readonly keys: KeyStore) {}

  /** True the first time `sender` uses `messageId` within DEDUPE_TTL_MS. */
  claim(sender: string, messageId: string): Awaitable<boolean> {
    return this.keys.claim('dedupe', sender, messageId, '1', DEDUPE_TTL_MS)
  }

  /** The message was not delivered after all: a retry must go through. */
  release(sender: string, messageId: string): Awaitable<void> {
    return this.keys.delete('dedupe', sender, messageId)
  }

  rememberSender(recipient: string, messageId: string, sender: string): Awaitable<void> {
    return this.keys.put('receipt', recipient, messageId, sender, RECEIPT_TTL_MS)
  }

  /** Who sent `messageId` to `recipient`; once, so one receipt goes back per message. */
  takeSender(recipient: string, messageId: string): Awaitable<string | undefined> {
    return this.keys.take('receipt', recipient, messageId)
  }
}
