// Prints a JWT signed with the configured JWT_SECRET, so trying an authenticated walker or the
// chat takes a minute: `npm run -s token -- --sub alice --name Alice [--ttl 1h]`. The token
// alone goes to stdout (for `TOKEN=$(npm run -s token -- --sub alice)`); notes go to stderr.
import { parseArgs } from 'node:util'
import { decodeJwt, SignJWT } from 'jose'
import { ConfigError, loadConfig } from '../config.ts'

const USAGE = `usage: npm run -s token -- --sub <user id> [--name <display name>] [--ttl <1h|30m|7d|seconds>] [--claim key=value]…
Signs with JWT_SECRET (HS256) from the environment; JWT_ISSUER and JWT_AUDIENCE are added when set.`

function fail(message: string, code: number): never {
  console.error(`token: ${message}`)
  process.exit(code)
}

let args
try {
  args = parseArgs({
    options: {
      sub: { type: 'string' },
      name: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      claim: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true,
    allowPositionals: false
  }).values
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`, 2)
}
if (args.help) {
  console.log(USAGE)
  process.exit(0)
}
if (!args.sub) fail(`--sub is required\n${USAGE}`, 2)

let config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  fail(`invalid configuration: ${err.message}`, 78)
}
if (config.JWT_PUBLIC_KEY) {
  fail('JWT_PUBLIC_KEY is set, so the server verifies RS256/ES256 tokens: sign them with the matching private key; this tool signs with JWT_SECRET only', 78)
}
if (!config.JWT_SECRET) {
  fail('JWT_SECRET is not set: export the same secret the server uses, e.g. JWT_SECRET=… npm run -s token -- --sub alice', 78)
}

const claims: Record<string, unknown> = {}
for (const pair of args.claim) {
  const eq = pair.indexOf('=')
  if (eq < 1) fail(`--claim expects key=value, got ${JSON.stringify(pair)}`, 2)
  claims[pair.slice(0, eq)] = pair.slice(eq + 1)
}
if (args.name) claims.name = args.name

// jose reads "90" as an absolute epoch time; a bare number here means seconds from now.
const ttl = /^\d+$/.test(args.ttl) ? `${args.ttl}s` : args.ttl
const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(args.sub).setIssuedAt()
try {
  jwt.setExpirationTime(ttl)
} catch {
  fail(`--ttl ${JSON.stringify(args.ttl)}: use a duration such as 90s, 30m, 1h, 7d, or a number of seconds`, 2)
}
if (config.JWT_ISSUER) jwt.setIssuer(config.JWT_ISSUER)
if (config.JWT_AUDIENCE) jwt.setAudience(config.JWT_AUDIENCE)

const token = await jwt.sign(new TextEncoder().encode(config.JWT_SECRET))
const { exp } = decodeJwt(token)
console.error(`token for ${args.sub}${args.name ? ` (${args.name})` : ''}, expires ${new Date(exp! * 1000).toISOString()}`)
console.log(token)
