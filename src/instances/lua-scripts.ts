import { createHash } from "node:crypto";

/**
 * The Lua scripts run on each instance. Rules they follow:
 * - every key they touch comes in KEYS (Dragonfly refuses undeclared keys);
 * - they are valid Lua 5.1 (Redis) and 5.4 (Dragonfly): no integer division,
 *   no bit operators, no unpack/table.unpack;
 * - numbers travel as decimal strings, compared by length then lexically, so
 *   counters are exact whatever the Lua number type.
 */
export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

function script(source: string): LuaScript {
  return { source, sha1: createHash("sha1").update(source).digest("hex") };
}

/**
 * Waiting tickets (fairness across sidecars) live in a hash, KEYS[3]:
 * ticket -> expiry (ms, instance clock). A ticket starts with the waiter's
 * zero-padded wall-clock start time, so every instance orders tickets the
 * same way (oldest = smallest string): the same waiter wins on every
 * instance and votes do not split. A live ticket older than the caller's
 * blocks the caller even when the lock is free, so a newcomer cannot
 * overtake a sidecar that has waited longer. Tickets expire unless
 * refreshed by their owner's attempts, so a waiter that died holds others
 * up for at most one ticket TTL.
 *
 * KEYS[1] lock key, KEYS[2] fencing counter, KEYS[3] ticket hash;
 * ARGV[1] secret, ARGV[2] TTL ms, ARGV[3] counter retention ms,
 * ARGV[4] the caller's ticket ('' for none), ARGV[5] ticket TTL ms.
 * Returns {1, counter} when granted, else {0, holder's PTTL} (-2 when the
 * lock is free but an older ticket goes first).
 *
 * A missing counter starts from the instance's clock in microseconds, so a
 * counter that expired or was lost in a restart still starts above every
 * token handed out before (fewer than one grant per microsecond is all that
 * needs).
 */
export const ACQUIRE = script(`
local ticket = ARGV[4]
local oldest = nil
local entries = redis.call('HGETALL', KEYS[3])
if #entries > 0 or ticket ~= '' then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  for i = 1, #entries, 2 do
    if tonumber(entries[i + 1]) <= now then
      redis.call('HDEL', KEYS[3], entries[i])
    elseif oldest == nil or entries[i] < oldest then
      oldest = entries[i]
    end
  end
  if ticket ~= '' then
    redis.call('HSET', KEYS[3], ticket, string.format('%d', now + tonumber(ARGV[5])))
    redis.call('PEXPIRE', KEYS[3], ARGV[5])
    if oldest == nil or ticket < oldest then oldest = ticket end
  end
end
if oldest == nil or oldest == ticket then
  if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    if ticket ~= '' then redis.call('HDEL', KEYS[3], ticket) end
    if redis.call('EXISTS', KEYS[2]) == 1 then
      redis.call('INCR', KEYS[2])
    else
      local t = redis.call('TIME')
      redis.call('SET', KEYS[2], string.format('%d%06d', tonumber(t[1]), tonumber(t[2])))
    end
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    return {1, redis.call('GET', KEYS[2])}
  end
end
return {0, redis.call('PTTL', KEYS[1])}
`);

/**
 * Renews many leases in one call. KEYS[i] lock key; ARGV[1] '1' to adopt
 * missing keys (restart quarantine catch-up), then ARGV[2i] secret and
 * ARGV[2i+1] TTL ms for KEYS[i]. Returns, per key, 1 when extended.
 */
export const EXTEND = script(`
local adopt = ARGV[1] == '1'
local extended = {}
for i = 1, #KEYS do
  local secret, ttl = ARGV[2 * i], ARGV[2 * i + 1]
  local current = redis.call('GET', KEYS[i])
  if current == secret then
    extended[i] = redis.call('PEXPIRE', KEYS[i], ttl)
  elseif (not current) and adopt then
    redis.call('SET', KEYS[i], secret, 'PX', ttl)
    extended[i] = 1
  else
    extended[i] = 0
  end
end
return extended
`);

/**
 * KEYS[1] lock key; ARGV[1] secret, ARGV[2] channel to announce the release
 * on ('' for none), ARGV[3] a tag naming this release (never the secret).
 * 1 when this secret's key was deleted. Announcing from the script keeps a
 * release at one command per instance; waiting sidecars subscribed to the
 * channel retry at once instead of on a timer, once per tag.
 */
export const RELEASE = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
  return 1
end
return 0
`);

/** KEYS[1] ticket hash; ARGV[1] ticket. Withdraws a waiting ticket. */
export const WITHDRAW_TICKET = script(`
return redis.call('HDEL', KEYS[1], ARGV[1])
`);

/** KEYS[1] fencing counter; ARGV[1] token, ARGV[2] retention ms. Returns the counter. */
export const RAISE_FENCE = script(`
local current = redis.call('GET', KEYS[1])
local token = ARGV[1]
if (not current) or #current < #token or (#current == #token and current < token) then
  redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
  return token
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return current
`);
