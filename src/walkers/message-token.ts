// The one rule for a `token` inside a walker message or HTTP body, on every transport that takes
// one (WebSocket and HTTP; webhooks pass their payload whole): a string is verified and, if good,
// is the user; a bad one, or a token that is not a string, is UNAUTHORIZED on an authenticated
// walker and ignored on a public one, which then runs as whoever the connection or request
// already proved (a handshake token; a bearer header, `?token=` or cookie).
import type { TokenVerifier, VerifiedUser } from '../auth/tokens.ts'
import { Replies, type WalkerReply } from '../protocol/walker.ts'
import type { LoadedWalker } from './registry.ts'

/** Who runs the message: `verified` when the message's own token was good (a WebSocket session keeps it). */
export interface MessageUser {
  user: VerifiedUser | null
  verified: boolean
}

export async function userOfMessageToken(walker: LoadedWalker, token: unknown, current: VerifiedUser | null, verifier: Pick<TokenVerifier, 'verify'>): Promise<MessageUser | WalkerReply> {
  const verified = typeof token === 'string' ? await verifier.verify(token) : null
  if (verified) return { user: verified, verified: true }
  return walker.public ? { user: current, verified: false } : Replies.UNAUTHORIZED
}
