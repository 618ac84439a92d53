// The Lua behind the Redis backplane's presence and chats. Each step that reads and then writes
// (is the user still held by another instance? was the chat already open?) runs as one script,
// so two instances can never interleave halfway, and presence events are published from inside
// the script: an event goes out exactly when the state changed, once, whoever changed it.
// Keys are built inside the scripts, so this targets one Redis (or a primary with replicas),
// not Redis Cluster. docs/redis.md lists every key and channel.
import type { Redis, Result } from 'ioredis'

/** Every key and channel of the service starts with this. */
export const PREFIX = 'sb:'

export const Keys = {
  /** ZSET user → arrival sequence: who is online, in the order they came. */
  online: `${PREFIX}online`,
  /** HASH user → display name. */
  names: `${PREFIX}names`,
  /** Counter behind the arrival sequence. */
  seq: `${PREFIX}seq`,
  /** SET of instances holding connections of the user. */
  where: (user: string) => `${PREFIX}where:${user}`,
  /** ZSET instance → lease expiry (ms, Redis clock). */
  instances: `${PREFIX}instances`,
  /** SET of users the instance holds connections of. */
  instanceUsers: (instance: string) => `${PREFIX}inst:${instance}`,
  /** SET of users a user has an open chat with (both directions stored). */
  chats: (user: string) => `${PREFIX}chats:${user}`,
  /** Dedupe and receipt keys (KeyStore). */
  key: (space: string, owner: string, id: string) => `${PREFIX}k:${space}:${owner}:${id}`,
  /** Prefix of a limiter's counters (Backplane.limiter); rate-limiter-flexible appends `:<key>`. */
  limiter: (name: string) => `${PREFIX}rl:${name}`
}

export const Channels = {
  presence: `${PREFIX}presence`,
  /** "a\nb": a chat was opened (rare next to messages, so every instance hears of it). */
  chatOpened: `${PREFIX}chat-opened`,
  /** Prefix: frames for one user's connections, wherever they are. */
  user: `${PREFIX}u:`,
  /** Prefix: replies to one instance (how many connections took a delivery). */
  instance: `${PREFIX}i:`,
  /** Prefix: walker broadcasts. */
  walker: `${PREFIX}w:`
}

const prelude = `
local P = '${PREFIX}'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function announce(user, name, online, lost)
  local change = { user_id = user, display_name = name, online = online }
  if lost then change.lost = true end
  redis.call('PUBLISH', '${Channels.presence}', cjson.encode(change))
end
-- inst holds a connection of user; 1 when the service-wide entry changed (came online, renamed)
local function hold(inst, user, name)
  redis.call('SADD', P .. 'where:' .. user, inst)
  redis.call('SADD', P .. 'inst:' .. inst, user)
  local before = redis.call('HGET', P .. 'names', user)
  if before == name then return 0 end
  if not before then redis.call('ZADD', P .. 'online', redis.call('INCR', P .. 'seq'), user) end
  redis.call('HSET', P .. 'names', user, name)
  announce(user, name, true)
  return 1
end
-- inst holds none of user's connections any more; 1 when that took the user offline. lost: no
-- goodbye came from inst (it died, or it is registering again after an outage)
local function release(inst, user, lost)
  redis.call('SREM', P .. 'inst:' .. inst, user)
  if redis.call('SREM', P .. 'where:' .. user, inst) == 0 then return 0 end
  if redis.call('SCARD', P .. 'where:' .. user) > 0 then return 0 end
  local name = redis.call('HGET', P .. 'names', user)
  redis.call('ZREM', P .. 'online', user)
  redis.call('HDEL', P .. 'names', user)
  if name then announce(user, name, false, lost) end
  return 1
end
-- what Chats.forget does when a user goes offline: close the chats whose other side is offline
local function forget(user)
  for _, other in ipairs(redis.call('SMEMBERS', P .. 'chats:' .. user)) do
    if redis.call('HEXISTS', P .. 'names', other) == 0 then
      redis.call('SREM', P .. 'chats:' .. user, other)
      redis.call('SREM', P .. 'chats:' .. other, user)
    end
  end
end
-- an instance that died or is closing: its users leave, the instance is forgotten
local function retire(inst)
  for _, user in ipairs(redis.call('SMEMBERS', P .. 'inst:' .. inst)) do
    if release(inst, user, true) == 1 then forget(user) end
  end
  redis.call('DEL', P .. 'inst:' .. inst)
  redis.call('ZREM', P .. 'instances', inst)
end
`

/** name → Lua body; every script takes ARGV only (numberOfKeys 0). */
const scripts = {
  // ARGV: instance, user, display name, chat ttl ms. Returns {1 when the entry changed, the
  // user's chat partners} (the instance keeps a copy of its users' chats for an outage).
  sbJoin: `
local changed = hold(ARGV[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', P .. 'chats:' .. ARGV[2], ARGV[4])
return { changed, redis.call('SMEMBERS', P .. 'chats:' .. ARGV[2]) }`,
  // ARGV: instance, user. Returns 1 when the user went offline. Their chats with users who are
  // offline too close in the same script: decided by the instances' mirrors (Chats.forget),
  // two users leaving on two instances at once could each still see the other online.
  sbLeave: `
local gone = release(ARGV[1], ARGV[2])
if gone == 1 then forget(ARGV[2]) end
return gone`,
  // ARGV: instance, lease ms. Returns 0 when the instance was unknown: swept while alive (a
  // long pause) or Redis lost its data; the caller then registers everything again.
  sbRenew: `
local known = redis.call('ZSCORE', P .. 'instances', ARGV[1])
redis.call('ZADD', P .. 'instances', now_ms() + tonumber(ARGV[2]), ARGV[1])
if known then return 1 end
return 0`,
  // ARGV: instance, lease ms, chat ttl ms, then user, name pairs: exactly the users this
  // instance holds. Joins them, releases any other user Redis thinks it holds.
  sbRegister: `
local inst = ARGV[1]
redis.call('ZADD', P .. 'instances', now_ms() + tonumber(ARGV[2]), inst)
local keep = {}
for i = 4, #ARGV, 2 do
  keep[ARGV[i]] = true
  hold(inst, ARGV[i], ARGV[i + 1])
  redis.call('PEXPIRE', P .. 'chats:' .. ARGV[i], ARGV[3])
end
for _, user in ipairs(redis.call('SMEMBERS', P .. 'inst:' .. inst)) do
  if not keep[user] and release(inst, user, true) == 1 then forget(user) end
end
return 1`,
  // No ARGV. Retires every instance whose lease ran out; returns how many.
  sbSweep: `
local dead = redis.call('ZRANGEBYSCORE', P .. 'instances', '-inf', now_ms())
for _, inst in ipairs(dead) do retire(inst) end
return #dead`,
  // ARGV: instance.
  sbRetire: `retire(ARGV[1])
return 1`,
  // No ARGV. Online users in arrival order, as a flat list: id, name, id, name…
  sbList: `
local out = {}
for _, user in ipairs(redis.call('ZRANGE', P .. 'online', 0, -1)) do
  local name = redis.call('HGET', P .. 'names', user)
  if name then
    out[#out + 1] = user
    out[#out + 1] = name
  end
end
return out`,
  // ARGV: a, b, chat ttl ms. Returns 1 when this call opened it, and then says so on the
  // chat-opened channel: the instance holding the other side keeps a copy for an outage.
  sbChatOpen: `
local added = redis.call('SADD', P .. 'chats:' .. ARGV[1], ARGV[2])
redis.call('SADD', P .. 'chats:' .. ARGV[2], ARGV[1])
redis.call('PEXPIRE', P .. 'chats:' .. ARGV[1], ARGV[3])
redis.call('PEXPIRE', P .. 'chats:' .. ARGV[2], ARGV[3])
if added == 1 then redis.call('PUBLISH', '${Channels.chatOpened}', ARGV[1] .. '\\n' .. ARGV[2]) end
return added`,
  // ARGV: a, b, chat ttl ms. An open chat in use stays open: its ttl starts again. Open only
  // when both sides hold it: each user's set expires on its own (a user idle for the ttl while
  // the partner's set lived on through other chats), and the half left behind is closed too,
  // so both directions answer alike.
  sbChatIsOpen: `
local ab = redis.call('SISMEMBER', P .. 'chats:' .. ARGV[1], ARGV[2])
local ba = redis.call('SISMEMBER', P .. 'chats:' .. ARGV[2], ARGV[1])
if ab == 0 or ba == 0 then
  if ab + ba == 1 then
    redis.call('SREM', P .. 'chats:' .. ARGV[1], ARGV[2])
    redis.call('SREM', P .. 'chats:' .. ARGV[2], ARGV[1])
  end
  return 0
end
redis.call('PEXPIRE', P .. 'chats:' .. ARGV[1], ARGV[3])
redis.call('PEXPIRE', P .. 'chats:' .. ARGV[2], ARGV[3])
return 1`,
  // ARGV: a, b.
  sbChatClose: `
redis.call('SREM', P .. 'chats:' .. ARGV[1], ARGV[2])
redis.call('SREM', P .. 'chats:' .. ARGV[2], ARGV[1])
return 1`
}

type Arg = string | number

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbJoin(instance: string, user: string, name: string, chatTtlMs: number): Result<[number, string[]], Context>
    sbLeave(instance: string, user: string): Result<number, Context>
    sbRenew(instance: string, leaseMs: number): Result<number, Context>
    sbRegister(args: Arg[]): Result<number, Context>
    sbSweep(): Result<number, Context>
    sbRetire(instance: string): Result<number, Context>
    sbList(): Result<string[], Context>
    sbChatOpen(a: string, b: string, chatTtlMs: number): Result<number, Context>
    sbChatIsOpen(a: string, b: string, chatTtlMs: number): Result<number, Context>
    sbChatClose(a: string, b: string): Result<number, Context>
  }
}

/**
 * Define the scripts on a connection. ioredis sends EVALSHA and falls back to EVAL by itself,
 * so a Redis that restarted empty (its script cache gone) needs nothing from us.
 */
export function defineScripts(conn: Redis): void {
  for (const [name, body] of Object.entries(scripts)) conn.defineCommand(name, { numberOfKeys: 0, lua: prelude + body })
}
