// The Lua behind the Redis history store. Everything that reads and then writes a chat's log
// (assigning the next seq, dedupe, trimming, moving a watermark) runs as one script, so every
// instance shares one log and two appends can never interleave halfway: Redis runs one script
// at a time, which is the whole locking story. Reads that span several keys (a page and the
// marks that give its statuses, a user's chats with their unread counts) are scripts too, so
// they see one consistent moment. Keys are built inside the scripts from the arguments, as in
// src/backplane/redis-scripts.ts: one Redis (or a primary with replicas), not Redis Cluster.
// docs/redis.md lists every key.
import type { Redis, Result } from 'ioredis'

/** Every history key starts with this (inside the service's `sb:`). */
export const HISTORY_PREFIX = 'sb:h:'

export const HistoryKeys = {
  /** STREAM, one entry per kept message, id `<seq>-0`; fields f, t, c, m, ts, n. */
  stream: (chat: string) => `${HISTORY_PREFIX}s:${chat}`,
  /** HASH "<from>\n<message_id>" → seq, exactly the kept messages. */
  dedupe: (chat: string) => `${HISTORY_PREFIX}d:${chat}`,
  /** HASH: epoch, a, b, last_seq, last_at and the per-participant fields (see the prelude). */
  meta: (chat: string) => `${HISTORY_PREFIX}m:${chat}`,
  /** ZSET chat id → last activity (ms): the user's chats. */
  chats: (user: string) => `${HISTORY_PREFIX}c:${user}`,
  /** HASH name, seen (ms), claim; expires 2 × ttl after seen (the claim must outlive every log of the user). */
  user: (user: string) => `${HISTORY_PREFIX}user:${user}`,
  partner: (user: string) => `${HISTORY_PREFIX}partner:${user}`
}

// Per participant u the meta hash holds, all only moving up:
//   dv:u  delivered mark        rc:u  received mark
//   to:u  messages to u so far  rn:u  the `n` of the message at rc:u (messages to u up to it)
//   tr:u  messages to u trimmed lt:u  seq of the last message to u
// `n` on a stream entry is to:<recipient> right after it was appended, so the messages to u
// above rc:u are to:u − rn:u, and those still kept are to:u − max(rn:u, tr:u): both prefixes
// of u's messages in seq order, so the longer one is what is gone or confirmed.
const prelude = `
local P = '${HISTORY_PREFIX}'
local function fields(flat)
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  return f
end
local function num(v)
  return tonumber(v) or 0
end
-- the participants of an existing chat, or nil when it has no log
local function participant(M, user)
  local ab = redis.call('HMGET', M, 'a', 'b')
  return ab[1] == user or ab[2] == user
end
`

/** name → Lua body; every script takes ARGV only (numberOfKeys 0). */
const scripts = {
  // ARGV: chat, from, to, content, message_id, timestamp, timestamp ms, fresh epoch, max per
  // chat, ttl s. Returns {duplicate 0/1, epoch, entry, delivered mark of to, received mark of to,
  // the seq of the previous message to \`to\` (0 for a duplicate)}.
  sbhAppend: `
local chat, from, to, mid = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local S, D, M = P .. 's:' .. chat, P .. 'd:' .. chat, P .. 'm:' .. chat
local max, ttl = tonumber(ARGV[9]), tonumber(ARGV[10])
local dkey = from .. '\\n' .. mid
local epoch = redis.call('HGET', M, 'epoch')
if epoch then
  local seq = redis.call('HGET', D, dkey)
  if seq then
    local e = redis.call('XRANGE', S, seq .. '-0', seq .. '-0')
    if e[1] then
      local marks = redis.call('HMGET', M, 'dv:' .. to, 'rc:' .. to)
      return { 1, epoch, e[1], num(marks[1]), num(marks[2]), 0 }
    end
  end
else
  -- a new log (or one that expired): a fresh epoch tells clients to forget its old seqs
  epoch = ARGV[8]
  redis.call('DEL', S, D, M)
  redis.call('HSET', M, 'epoch', epoch, 'a', from, 'b', to, 'last_seq', 0)
end
local seq = redis.call('HINCRBY', M, 'last_seq', 1)
local n = redis.call('HINCRBY', M, 'to:' .. to, 1)
-- the entries XADD's MAXLEN is about to drop: their dedupe fields go with them
local len = redis.call('XLEN', S)
if len >= max then
  for _, e in ipairs(redis.call('XRANGE', S, '-', '+', 'COUNT', len - max + 1)) do
    local f = fields(e[2])
    redis.call('HDEL', D, f.f .. '\\n' .. f.m)
    redis.call('HINCRBY', M, 'tr:' .. f.t, 1)
  end
end
local id = seq .. '-0'
redis.call('XADD', S, 'MAXLEN', '=', max, id, 'f', from, 't', to, 'c', ARGV[4], 'm', mid, 'ts', ARGV[6], 'n', n)
redis.call('HSET', D, dkey, seq)
local previous = num(redis.call('HGET', M, 'lt:' .. to))
redis.call('HSET', M, 'last_at', ARGV[7], 'lt:' .. to, seq)
redis.call('EXPIRE', S, ttl)
redis.call('EXPIRE', D, ttl)
redis.call('EXPIRE', M, ttl)
for _, user in ipairs({ from, to }) do
  local C = P .. 'c:' .. user
  redis.call('ZADD', C, ARGV[7], chat)
  redis.call('EXPIRE', C, ttl)
  -- keep the list bounded: the least recently active chats are the ones that expire first
  for _, old in ipairs(redis.call('ZRANGE', C, 0, 3)) do
    if redis.call('EXISTS', P .. 'm:' .. old) == 0 then redis.call('ZREM', C, old) end
  end
end
local marks = redis.call('HMGET', M, 'dv:' .. to, 'rc:' .. to)
return { 0, epoch, { id, { 'f', from, 't', to, 'c', ARGV[4], 'm', mid, 'ts', ARGV[6], 'n', n } }, num(marks[1]), num(marks[2]), previous }`,

  // ARGV: chat, reader, seq, after. Moves the reader's delivered mark up (never past last_seq),
  // once it has reached \`after\`; returns the mark as it was (ARGV's seq when the reader has no
  // such chat: nothing is news).
  sbhDelivered: `
local M = P .. 'm:' .. ARGV[1]
local r = ARGV[2]
if not participant(M, r) then return tonumber(ARGV[3]) end
local seq = math.min(tonumber(ARGV[3]), num(redis.call('HGET', M, 'last_seq')))
local before = num(redis.call('HGET', M, 'dv:' .. r))
if seq > before and before >= num(ARGV[4]) then redis.call('HSET', M, 'dv:' .. r, seq) end
return before`,

  // ARGV: chat, reader, from, message_id. Returns {} when the log has no such message to the
  // reader, else {entry, delivered mark, received mark} after moving both up to it.
  sbhReceived: `
local chat, r = ARGV[1], ARGV[2]
local S, D, M = P .. 's:' .. chat, P .. 'd:' .. chat, P .. 'm:' .. chat
if not participant(M, r) then return {} end
local seq = redis.call('HGET', D, ARGV[3] .. '\\n' .. ARGV[4])
if not seq then return {} end
local e = redis.call('XRANGE', S, seq .. '-0', seq .. '-0')[1]
if not e then return {} end
local f = fields(e[2])
if f.t ~= r then return {} end
seq = tonumber(seq)
local dv, rc = num(redis.call('HGET', M, 'dv:' .. r)), num(redis.call('HGET', M, 'rc:' .. r))
if seq > rc then
  rc = seq
  redis.call('HSET', M, 'rc:' .. r, seq, 'rn:' .. r, f.n)
end
if seq > dv then
  dv = seq
  redis.call('HSET', M, 'dv:' .. r, seq)
end
return { e, dv, rc }`,

  // ARGV: chat, before_seq or '', after_seq or '', limit. Returns {} for no log, else
  // {meta as HGETALL, first_seq, entries oldest first, has_more 0/1}.
  sbhPage: `
local chat = ARGV[1]
local S, M = P .. 's:' .. chat, P .. 'm:' .. chat
local meta = redis.call('HGETALL', M)
if #meta == 0 then return {} end
local last = num(redis.call('HGET', M, 'last_seq'))
local limit = tonumber(ARGV[4])
local before, after = tonumber(ARGV[2]), tonumber(ARGV[3])
local first = redis.call('XRANGE', S, '-', '+', 'COUNT', 1)[1]
local first_seq = last + 1
if first then first_seq = tonumber(string.match(first[1], '^(%d+)')) end
-- bounds clamped to the log, so ids stay small integers and an empty range is just empty
local hi = last
if before then hi = math.min(hi, before - 1) end
local got = {}
if after then
  local lo = math.max(after, 0) + 1
  if lo <= hi then got = redis.call('XRANGE', S, lo .. '-0', hi .. '-0', 'COUNT', limit + 1) end
  local more = 0
  if #got > limit then
    more = 1
    got[#got] = nil
  end
  return { meta, first_seq, got, more }
end
if hi >= 1 then got = redis.call('XREVRANGE', S, hi .. '-0', '-', 'COUNT', limit + 1) end
local more = 0
if #got > limit then
  more = 1
  got[#got] = nil
end
local out = {}
for i = #got, 1, -1 do out[#out + 1] = got[i] end
return { meta, first_seq, out, more }`,

  // ARGV: user, limit. Returns a flat list, per chat: id, other, epoch, last_seq, unread,
  // last_at; most recent first. Chats whose log expired leave the user's list on the way.
  sbhChats: `
local user, limit = ARGV[1], tonumber(ARGV[2])
local C = P .. 'c:' .. user
local out, found, start = {}, 0, 0
while found < limit do
  local ids = redis.call('ZREVRANGE', C, start, start + limit - 1)
  if #ids == 0 then break end
  start = start + #ids
  for _, chat in ipairs(ids) do
    local m = redis.call('HMGET', P .. 'm:' .. chat, 'epoch', 'a', 'b', 'last_seq', 'last_at', 'to:' .. user, 'rn:' .. user, 'tr:' .. user)
    if not m[1] then
      redis.call('ZREM', C, chat)
      start = start - 1
    elseif found < limit then
      local other = m[2]
      if other == user then other = m[3] end
      found = found + 1
      local unread = num(m[6]) - math.max(num(m[7]), num(m[8]))
      for _, v in ipairs({ chat, other, m[1], m[4], unread, m[5] }) do out[#out + 1] = v end
    end
  end
end
return out`,

  // ARGV: user. Chats with messages to the user above its delivered mark, least recently
  // active first: per chat {id, other, epoch, last_seq, delivered mark, received mark,
  // entries to the user above the delivered mark}.
  sbhBacklog: `
local user = ARGV[1]
local C = P .. 'c:' .. user
local out = {}
for _, chat in ipairs(redis.call('ZRANGE', C, 0, -1)) do
  local M = P .. 'm:' .. chat
  local m = redis.call('HMGET', M, 'epoch', 'a', 'b', 'last_seq', 'dv:' .. user, 'rc:' .. user, 'lt:' .. user)
  if not m[1] then
    redis.call('ZREM', C, chat)
  elseif num(m[7]) > num(m[5]) then
    local mine = {}
    for _, e in ipairs(redis.call('XRANGE', P .. 's:' .. chat, (num(m[5]) + 1) .. '-0', num(m[4]) .. '-0')) do
      if fields(e[2]).t == user then mine[#mine + 1] = e end
    end
    if #mine > 0 then
      local other = m[2]
      if other == user then other = m[3] end
      out[#out + 1] = { chat, other, m[1], num(m[4]), num(m[5]), num(m[6]), mine }
    end
  end
end
return out`,

  // ARGV: user, display name, ttl s, now ms. Known until ttl after \`seen\`; the hash (and the
  // claim in it) lives twice as long: a log the user is in can outlive their known period by
  // up to ttl, and a claim that expired first would let anyone take the id and read that log.
  sbhSeen: `
local U = P .. 'user:' .. ARGV[1]
redis.call('HSET', U, 'name', ARGV[2], 'seen', ARGV[4])
redis.call('EXPIRE', U, 2 * tonumber(ARGV[3]))
return 1`,

  // ARGV: user, claim hash, ttl s. 1 when stored; a user not yet seen still expires.
  sbhClaim: `
local U = P .. 'user:' .. ARGV[1]
if redis.call('HSETNX', U, 'claim', ARGV[2]) == 0 then return 0 end
if redis.call('TTL', U) < 0 then redis.call('EXPIRE', U, 2 * tonumber(ARGV[3])) end
return 1`
}

/** A stream entry as XRANGE gives it: id and flat field/value pairs. */
export type RawEntry = [id: string, fields: string[]]

type Arg = string | number

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbhAppend(...args: Arg[]): Result<[number, string, RawEntry, number, number, number], Context>
    sbhDelivered(chat: string, reader: string, seq: number, after: number): Result<number, Context>
    sbhReceived(chat: string, reader: string, from: string, messageId: string): Result<[] | [RawEntry, number, number], Context>
    sbhPage(chat: string, before: Arg, after: Arg, limit: number): Result<[] | [string[], number, RawEntry[], number], Context>
    sbhChats(user: string, limit: number): Result<Arg[], Context>
    sbhBacklog(user: string): Result<[string, string, string, number, number, number, RawEntry[]][], Context>
    sbhSeen(user: string, name: string, ttlS: number, nowMs: number): Result<number, Context>
    sbhClaim(user: string, hash: string, ttlS: number): Result<number, Context>
  }
}

/**
 * Define the scripts on the history connection. ioredis sends EVALSHA and falls back to EVAL by
 * itself, so a Redis that restarted empty (its script cache gone) needs nothing from us.
 */
export function defineHistoryScripts(conn: Redis): void {
  for (const [name, body] of Object.entries(scripts)) conn.defineCommand(name, { numberOfKeys: 0, lua: prelude + body })
}
