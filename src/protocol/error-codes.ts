// FastChat error codes (SPEC section 3, "ERROR"), with whether a client should retry.
// An ERROR never closes the connection.
export const ErrorCode = {
  /** The message was malformed or a field broke a rule. Retry: no, fix the message. */
  VALIDATION: 'VALIDATION',
  /** The message could not be handed to any recipient connection. Retry: yes, same message_id. */
  MESSAGE_FAILED: 'MESSAGE_FAILED',
  /** The target user is offline or unknown. Retry: when they appear in PRESENCE. */
  USER_NOT_FOUND: 'USER_NOT_FOUND',
  /** MSG/TYPING to a user with no open chat. Retry: after OPEN_CHAT. */
  CHAT_NOT_OPENED: 'CHAT_NOT_OPENED',
  /** Over a per-user rate limit. Retry: after details.retry_after_ms. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** HELLO missing, token missing/invalid, or user_id not the token's sub. Retry: after HELLO / with a token. */
  UNAUTHORIZED: 'UNAUTHORIZED'
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]
