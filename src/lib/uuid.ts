// UUID v4, the FastChat user id (SPEC section 3): the pattern the server validates with and a
// generator for clients. Free of Node APIs, so the browser client shares it with the server.

/** Either case is accepted; ids are compared exactly as sent. */
export const UUID_V4_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$'

const UUID_V4 = new RegExp(UUID_V4_PATTERN)

export function isUuidV4(value: unknown): value is string {
  return typeof value === 'string' && UUID_V4.test(value)
}

/**
 * A random UUID v4 from getRandomValues. Not crypto.randomUUID: browsers offer that only in
 * secure contexts, and the chat page must also work over plain http on a LAN address.
 */
export function uuidv4(): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40 // version 4
  b[8] = (b[8]! & 0x3f) | 0x80 // RFC 4122 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
