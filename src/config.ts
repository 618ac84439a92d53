// Every environment variable Switchboard reads, in one TypeBox schema: parsed once at startup,
// defaulted, converted from strings and checked, so a bad value stops the process with one line
// instead of surfacing later as a strange runtime failure. Code reads app.config, never process.env.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { createPublicKey, type KeyObject } from 'node:crypto'
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'

const seconds = (def: number, description: string) =>
  Type.Number({ exclusiveMinimum: 0, maximum: 86_400, default: def, description })
const int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: def, description })
const bool = (def: boolean, description: string) => Type.Boolean({ default: def, description })
const optionalString = (description: string) => Type.Optional(Type.String({ minLength: 1, description }))

export const ConfigSchema = Type.Object({
  // --- listening and logging
  PORT: int(8000, 0, 65_535, 'TCP port to listen on (0 picks a free one)'),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'address to bind; 0.0.0.0 in containers' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level' }
  ),
  TRUST_PROXY: Type.String({
    default: 'false',
    description: 'trust X-Forwarded-* from: false, true, a hop count, or comma-separated addresses/CIDRs'
  }),
  PUBLIC_BASE_URL: optionalString('public HTTP base URL shown to clients (default: from the listen address)'),
  WS_PUBLIC_URL: optionalString('public WebSocket URL shown to clients (default: from the listen address)'),
  SHUTDOWN_GRACE_MS: int(10_000, 0, 600_000, 'on SIGTERM/SIGINT, how long in-flight work may take before exit'),

  // --- every WebSocket surface
  ALLOWED_ORIGINS: Type.String({ default: '', description: 'extra allowed handshake origins, comma separated; * allows all' }),
  WS_PING_INTERVAL: seconds(30, 'seconds between server pings and app-level heartbeats (fractions allowed)'),
  WS_PING_TIMEOUT: seconds(10, 'seconds a client has to answer a ping; must be below WS_PING_INTERVAL'),
  WS_MAX_PAYLOAD: int(65_536, 1, 16 * 1024 * 1024, 'largest accepted frame in bytes; larger closes with 1009'),
  WS_GREETING: bool(true, 'send the WELCOME greeting on /ws'),
  WS_FRAMES_PER_SEC: int(100, 1, 1_000_000, 'per-connection sustained frame budget; past it the socket closes with 1008'),
  WS_FRAME_BURST: int(200, 1, 1_000_000, 'frames a connection may send in a burst above the sustained budget'),
  WS_SEND_SOFT_CAP: int(1_048_576, 1024, 1_073_741_824, 'bytes buffered to a slow reader before typing/presence to it are dropped'),
  WS_SEND_HARD_CAP: int(8_388_608, 1024, 1_073_741_824, 'bytes buffered to a slow reader before it is terminated'),
  MAX_CONNECTIONS: int(18_000, 1, 1_000_000, 'open WebSocket connections per process; more are refused with 503'),
  MAX_CONNECTIONS_PER_IP: int(1_000, 1, 1_000_000, 'open WebSocket connections per client IP; more are refused with 429'),

  // --- tokens (SPEC section 0)
  JWT_SECRET: optionalString('HS256 secret that signs tokens'),
  JWT_PUBLIC_KEY: optionalString('RS256/ES256 public key (PEM) that verifies tokens; takes precedence over JWT_SECRET'),
  JWT_ISSUER: optionalString('required iss claim, when set'),
  JWT_AUDIENCE: optionalString('required aud claim, when set'),
  AUTH_REQUIRED: bool(false, 'FastChat HELLO requires a verified token'),

  // --- FastChat (SPEC section 3)
  PRESENCE_DEBOUNCE_MS: int(50, 0, 60_000, 'at most one PRESENCE per connection per this many ms'),
  CHAT_MSG_PER_MIN: int(60, 1, 1_000_000, 'MSG per user per 60 s'),
  CHAT_TYPING_PER_MIN: int(10, 1, 1_000_000, 'TYPING per user per 60 s'),

  // --- FastChat history (SPEC section 9)
  HISTORY_STORE: Type.Optional(Type.Union(['sqlite', 'redis', 'memory', 'off'].map((v) => Type.Literal(v)), {
    description: 'where chat logs live: sqlite, redis, memory or off (default: redis with REDIS_URL, else sqlite)'
  })),
  DATA_DIR: Type.String({ minLength: 1, default: './data', description: 'directory of the sqlite history file (history.db)' }),
  HISTORY_MAX_PER_CHAT: int(1000, 1, 1_000_000, 'messages each chat log keeps; the oldest go first'),
  HISTORY_TTL_S: int(604_800, 1, 315_360_000, 'a chat log expires this long after its last message, a user this long after last seen'),

  // --- /ws/echo action dialect (SPEC section 4)
  ECHO_SEND_COMPLETION: bool(true, 'send {"action":"complete"} after each action message'),

  // --- walkers (SPEC section 6)
  WALKERS_DIR: optionalString('directory of walker modules (default: the shipped examples)'),
  WALKER_TIMEOUT_MS: int(30_000, 1, 3_600_000, 'a walker execution running longer fails with EXECUTION_ERROR'),
  WALKERS_HOT_RELOAD: bool(false, 'watch WALKERS_DIR and re-import changed walker files without a restart (npm run dev)'),
  WEBHOOK_API_KEYS: Type.String({ default: '', description: 'accepted X-API-Key values for webhook walkers, comma separated' }),
  WEBHOOK_SECRET: optionalString('HMAC-SHA256 secret for X-Signature on webhook walkers'),

  // --- several instances (SPEC section 8)
  REDIS_URL: Type.Optional(Type.String({
    pattern: '^rediss?://',
    rule: 'must be a redis:// or rediss:// URL',
    description: 'redis://… to share state between instances; unset runs in memory' // rediss:// for TLS
  })),
  // Leases are renewed a few times per TTL and swept every tick: under a second is all churn.
  INSTANCE_TTL_S: Type.Number({ minimum: 1, maximum: 86_400, default: 15, description: 'users of a dead instance leave presence within this many seconds' }),

  // --- the operators' console (docs/admin.md)
  ADMIN_TOKEN: optionalString('bearer token for /admin and /admin/ws; unset: npm start makes one per process and logs the admin URL, a bare app refuses them all')
})

export type ConfigValues = Static<typeof ConfigSchema>

/** The parsed config plus the values derived from it once, so no code re-splits strings. */
export interface Config extends ConfigValues {
  /** HISTORY_STORE with its default applied. */
  historyStore: 'sqlite' | 'redis' | 'memory' | 'off'
  allowedOrigins: string[]
  allowAnyOrigin: boolean
  webhookApiKeys: string[]
}

export class ConfigError extends Error {}

/** Values never echoed in an error line: secrets, and keys whose value spans lines. */
const HIDDEN = new Set(['JWT_SECRET', 'JWT_PUBLIC_KEY', 'WEBHOOK_SECRET', 'WEBHOOK_API_KEYS', 'ADMIN_TOKEN'])

/** `KEY=value` for an error line: secrets left out, a password in a URL masked, one line always. */
function shown(key: string, value: unknown): string {
  if (value === undefined) return key
  if (HIDDEN.has(key)) return key
  let text = String(value)
  if (key === 'REDIS_URL') text = text.replace(/\/\/[^@/]*@/, '//***@')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text) || text.length > 120) text = JSON.stringify(text.slice(0, 120))
  return `${key}=${text}`
}

/** The rule a schema states, in words an operator can act on. */
export function ruleOf(schema: TSchema): string {
  if (typeof schema.rule === 'string') return schema.rule
  if (Array.isArray(schema.anyOf)) {
    const values = (schema.anyOf as TSchema[]).map((s) => s.const as unknown).filter((v) => v !== undefined)
    return `must be one of ${values.join(', ')}`
  }
  switch (schema.type) {
    case 'boolean': return 'must be true or false'
    case 'integer': return `must be an integer from ${String(schema.minimum)} to ${String(schema.maximum)}`
    case 'number': {
      const low = schema.exclusiveMinimum !== undefined ? `above ${String(schema.exclusiveMinimum)} and at most` : `from ${String(schema.minimum)} to`
      return `must be a number ${low} ${String(schema.maximum)}`
    }
    default: return 'must not be empty'
  }
}

/** The environment's text is a value of the schema's type as written: digits for an integer, a decimal for a number, true or false. */
function spells(schema: TSchema, text: string): boolean {
  switch (schema.type) {
    case 'integer': return /^[+-]?\d+$/.test(text)
    case 'number': return /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)
    case 'boolean': return /^(true|false)$/i.test(text)
    default: return true
  }
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** One TRUST_PROXY list entry: an address, a CIDR, or one of proxy-addr's names. */
function proxyEntryOk(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true
  const [addr, bits, ...more] = entry.split('/')
  const family = isIP(addr ?? '')
  if (family === 0 || more.length > 0) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}

/** An origin exactly as a browser sends it: scheme://host[:port], nothing after. */
function isOrigin(entry: string): boolean {
  try {
    const u = new URL(entry)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === entry
  } catch {
    return false
  }
}

function urlWithScheme(value: string, schemes: string[]): boolean {
  try {
    return schemes.includes(new URL(value).protocol)
  } catch {
    return false
  }
}

/** The key JWT_PUBLIC_KEY holds (`\\n` escapes allowed, as in .env files), or why it is unusable. */
export function parsePublicKey(pem: string): KeyObject | string {
  let key: KeyObject
  try {
    key = createPublicKey(pem.replace(/\\n/g, '\n'))
  } catch {
    return 'must be a PEM public key (-----BEGIN PUBLIC KEY-----…; write line breaks as \\n in .env files)'
  }
  if (key.asymmetricKeyType === 'rsa') return key
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return key
  return `must be an RSA (RS256) or EC P-256 (ES256) key, got ${key.asymmetricKeyType ?? 'unknown'}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}`
}

/** HS256 keys shorter than the hash are guessable offline from any one token (RFC 7518 3.2). */
export const MIN_SECRET_BYTES = 32

/** Rules on one variable that a JSON schema cannot state; each answers the broken rule, if any. */
const valueChecks: { [K in keyof ConfigValues]?: (v: NonNullable<ConfigValues[K]>, env: Env) => string | undefined } = {
  TRUST_PROXY: (v) => v === 'true' || v === 'false' || /^\d+$/.test(v) || splitList(v).length > 0 && splitList(v).every(proxyEntryOk)
    ? undefined
    : 'must be false, true, a hop count (1, 2…) or comma-separated IP addresses/CIDRs (10.0.0.0/8, ::1, loopback)',
  PUBLIC_BASE_URL: (v) => urlWithScheme(v, ['http:', 'https:']) ? undefined : 'must be an http:// or https:// URL',
  WS_PUBLIC_URL: (v) => urlWithScheme(v, ['ws:', 'wss:']) ? undefined : 'must be a ws:// or wss:// URL',
  ALLOWED_ORIGINS: (v) => {
    const bad = splitList(v).find((o) => o !== '*' && !isOrigin(o))
    return bad === undefined ? undefined : `"${bad}" is not an origin: list * or origins exactly as browsers send them, scheme://host[:port] with no path or trailing slash`
  },
  JWT_SECRET: (v, env) => {
    const bytes = Buffer.byteLength(v, 'utf8')
    if (bytes >= MIN_SECRET_BYTES || env.NODE_ENV === 'development') return undefined
    return `must be at least ${MIN_SECRET_BYTES} bytes, got ${bytes} (a short HS256 secret can be guessed from any token; NODE_ENV=development allows one)`
  },
  JWT_PUBLIC_KEY: (v) => {
    const key = parsePublicKey(v)
    return typeof key === 'string' ? key : undefined
  }
}

/** Rules that involve more than one variable, checked after each variable on its own. */
function crossChecks(c: ConfigValues): string | undefined {
  if (c.WS_PING_TIMEOUT >= c.WS_PING_INTERVAL) {
    return `WS_PING_TIMEOUT=${c.WS_PING_TIMEOUT}: must be below WS_PING_INTERVAL (${c.WS_PING_INTERVAL})`
  }
  if (c.WS_SEND_SOFT_CAP >= c.WS_SEND_HARD_CAP) {
    return `WS_SEND_SOFT_CAP=${c.WS_SEND_SOFT_CAP}: must be below WS_SEND_HARD_CAP (${c.WS_SEND_HARD_CAP})`
  }
  // Without a key no token verifies, so every HELLO would be refused.
  if (c.AUTH_REQUIRED && !c.JWT_SECRET && !c.JWT_PUBLIC_KEY) return 'AUTH_REQUIRED=true: needs JWT_SECRET or JWT_PUBLIC_KEY'
  if (c.HISTORY_STORE === 'redis' && !c.REDIS_URL) return 'HISTORY_STORE=redis: needs REDIS_URL'
  return undefined
}

const splitList = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean)

type Env = Record<string, string | number | boolean | undefined>

/**
 * Parse an environment (process.env, or a test's overrides) into a Config. Empty strings count
 * as unset. Throws ConfigError with one line naming the variable and the rule it broke (never a
 * secret's value). NODE_ENV is read only for the JWT_SECRET length rule.
 */
export function loadConfig(env: Env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const v = env[key]
    if (v !== undefined && v !== '') raw[key] = typeof v === 'string' ? v.trim() : v
  }
  // Value.Convert reads integers with parseInt and turns booleans into numbers (`1e4` became 1,
  // `8000.5` 8000, `PORT=false` 0): a string must spell its type itself.
  for (const [key, v] of Object.entries(raw)) {
    const schema = (ConfigSchema.properties as Record<string, TSchema>)[key]!
    if (typeof v === 'string' && !spells(schema, v)) throw new ConfigError(`${shown(key, env[key])}: ${ruleOf(schema)}${schema.description ? ` (${schema.description})` : ''}`)
  }
  const value = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, raw)) as Record<string, unknown>
  const first = Value.Errors(ConfigSchema, value).First()
  if (first) {
    const key = first.path.replace(/^\//, '').split('/')[0]!
    const schema = (ConfigSchema.properties as Record<string, TSchema>)[key]
    const rule = schema ? ruleOf(schema) : first.message
    throw new ConfigError(`${shown(key, env[key])}: ${rule}${schema?.description ? ` (${schema.description})` : ''}`)
  }
  const c = value as ConfigValues
  for (const [key, check] of Object.entries(valueChecks) as [string, (v: unknown, env: Env) => string | undefined][]) {
    const v = (c as Record<string, unknown>)[key]
    const broken = v === undefined ? undefined : check(v, env)
    if (broken) throw new ConfigError(`${shown(key, env[key])}: ${broken}`)
  }
  const cross = crossChecks(c)
  if (cross) throw new ConfigError(cross)
  const origins = splitList(c.ALLOWED_ORIGINS)
  return {
    ...c,
    historyStore: (c.HISTORY_STORE ?? (c.REDIS_URL ? 'redis' : 'sqlite')) as Config['historyStore'],
    allowedOrigins: origins.filter((o) => o !== '*'),
    allowAnyOrigin: origins.includes('*'),
    webhookApiKeys: splitList(c.WEBHOOK_API_KEYS)
  }
}

/**
 * What the config names on disk, checked by the server before it builds anything (not by
 * loadConfig, which tools and tests call without a server): WALKERS_DIR must be a directory;
 * DATA_DIR, when the SQLite store uses it, a directory or creatable as one.
 */
export function checkPaths(c: Config): void {
  if (c.WALKERS_DIR !== undefined) {
    const dir = resolve(c.WALKERS_DIR)
    if (!isDirectory(dir)) throw new ConfigError(`${shown('WALKERS_DIR', c.WALKERS_DIR)}: must be an existing directory of walker modules (${dir} is ${describePath(dir)})`)
  }
  if (c.historyStore === 'sqlite') {
    // The nearest part of the path that exists must be a directory; the rest is made here, a
    // level at a time (Node's recursive mkdir spins forever where a level cannot be made, as
    // under /proc), so an unusable DATA_DIR is one line and exit 78, not a stack trace later.
    const target = resolve(c.DATA_DIR)
    const missing: string[] = []
    let p = target
    while (!existsSync(p) && dirname(p) !== p) {
      missing.unshift(p)
      p = dirname(p)
    }
    const refuse = (why: string) => new ConfigError(`${shown('DATA_DIR', c.DATA_DIR)}: must be a directory or a path where one can be created (${why}; HISTORY_STORE=sqlite keeps history.db there)`)
    if (!isDirectory(p)) throw refuse(`${p} is ${describePath(p)}`)
    for (const dir of missing) {
      try {
        mkdirSync(dir)
      } catch (err) {
        throw refuse(`cannot create ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
    }
    try {
      accessSync(target, constants.W_OK)
    } catch (err) {
      throw refuse(`${target} is not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

function describePath(p: string): string {
  try {
    return statSync(p).isDirectory() ? 'a directory' : 'not a directory'
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable: ${(err as Error).message}`
  }
}

/** Rules beyond a variable's JSON schema, in a few words (the checks above enforce them). */
const DOC_RULES: Record<string, string> = {
  HOST: 'an address or name of this machine (127.0.0.1, 0.0.0.0, ::)',
  TRUST_PROXY: 'false, true, a hop count, or comma-separated IP addresses/CIDRs (loopback, linklocal, uniquelocal too)',
  PUBLIC_BASE_URL: 'an http:// or https:// URL',
  WS_PUBLIC_URL: 'a ws:// or wss:// URL',
  ALLOWED_ORIGINS: '`*` or origins exactly as browsers send them (scheme://host[:port], no path or trailing slash), comma separated',
  JWT_SECRET: `at least ${MIN_SECRET_BYTES} bytes; shorter only with NODE_ENV=development`,
  JWT_PUBLIC_KEY: 'a PEM public key, RSA (RS256) or EC P-256 (ES256); `\\n` escapes allowed',
  WALKERS_DIR: 'an existing directory',
  DATA_DIR: 'a directory, or a path where one can be created (checked when HISTORY_STORE is sqlite)'
}
const DOC_CROSS: Record<string, string> = {
  WS_PING_TIMEOUT: 'below WS_PING_INTERVAL',
  WS_SEND_SOFT_CAP: 'below WS_SEND_HARD_CAP',
  AUTH_REQUIRED: 'true needs JWT_SECRET or JWT_PUBLIC_KEY',
  HISTORY_STORE: 'redis needs REDIS_URL'
}

/** Every variable for the documentation tables: its schema and its default as the tables show it. */
function documented(): { key: string; s: TSchema; def: string }[] {
  return Object.entries(ConfigSchema.properties as Record<string, TSchema>).map(([key, s]) => ({
    key, s, def: s.default === undefined ? '(unset)' : `\`${String(s.default)}\``
  }))
}

/** docs/configuration.md's table: every variable with its default and the rule startup enforces. */
export function configRulesMarkdown(): string {
  const rows = documented().map(({ key, s, def }) => {
    const base = DOC_RULES[key] ?? (s.type === 'string' && s.rule === undefined ? 'any text' : ruleOf(s).replace(/^must be /, ''))
    const rule = DOC_CROSS[key] ? `${base}; ${DOC_CROSS[key]}` : base
    return `| \`${key}\` | ${def} | ${rule.replace(/\|/g, '\\|')} | ${s.description ?? ''} |`
  })
  return ['| variable | default | allowed values | meaning |', '|---|---|---|---|', ...rows].join('\n')
}

/** The README's config table, generated from the schema so the two cannot drift apart. */
export function configTableMarkdown(): string {
  const rows = documented().map(({ key, s, def }) => {
    return `| \`${key}\` | ${def} | ${s.description ?? ''} |`
  })
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n')
}
