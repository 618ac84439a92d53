// Every WebSocket close code Switchboard sends, in one place, with what a client should do.
// The runbook (ops/runbook.md) and README list the same table.
export const CloseCode = {
  /** Normal close, answering the client's own 1000. Reconnect: no (the client asked). */
  NORMAL: 1000,
  /** Server shutting down or restarting. Reconnect: yes, with backoff. */
  GOING_AWAY: 1001,
  /** Invalid UTF-8 in a text frame (sent by `ws`). Reconnect: yes, after fixing the client. */
  INVALID_PAYLOAD: 1007,
  /**
   * Policy violation: frame flood past the budget (data frames and pings alike), a walker
   * backlog past its cap, or the token that authenticated the connection expired (FastChat,
   * walkers, the action dialect; reason "token expired"). Reconnect: yes, with backoff (with a
   * fresh token after "token expired").
   */
  POLICY_VIOLATION: 1008,
  /** Frame larger than WS_MAX_PAYLOAD (sent by `ws`). Reconnect: yes, send smaller frames. */
  MESSAGE_TOO_BIG: 1009,
  /** Unexpected server error on this connection only. Reconnect: yes, with backoff. */
  INTERNAL_ERROR: 1011,
  /** Walker exists but is not a websocket walker. Reconnect: no. */
  WALKER_NOT_WEBSOCKET: 4000,
  /** Action dialect: the handshake token was invalid or expired. Reconnect: with a new token. */
  FORBIDDEN: 4403,
  /** No walker by that name. Reconnect: no. */
  WALKER_NOT_FOUND: 4004
} as const

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

export const CloseReason = {
  SHUTTING_DOWN: 'server shutting down',
  FLOOD: 'frame rate limit exceeded',
  SLOW_READER: 'send buffer limit exceeded',
  QUEUE_FULL: 'too many messages waiting',
  TOKEN_EXPIRED: 'token expired',
  WALKER_NOT_FOUND: 'Walker not found',
  WALKER_NOT_WEBSOCKET: 'Walker is not configured as WebSocket',
  FORBIDDEN: 'Forbidden',
  INTERNAL: 'internal error'
} as const
