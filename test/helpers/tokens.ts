// Sign test tokens with jose, the same library the server verifies with.
import { SignJWT } from 'jose'

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256'

export async function signToken(claims: Record<string, unknown> & { sub: string }, opts: { secret?: string; ttl?: string | number; alg?: string } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'HS256' }).setIssuedAt()
  if (opts.ttl !== undefined) jwt.setExpirationTime(opts.ttl)
  else jwt.setExpirationTime('1h')
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_SECRET))
}

/** An unsigned `alg: none` token, which must always be refused. */
export function noneToken(sub: string): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}.`
}
