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
 * KEYS[1] lock key, KEYS[2] fencing counter; ARGV[1] secret, ARGV[2] TTL ms,
 * ARGV[3] counter retention ms. Returns {1, counter} when granted, else
 * {0, holder's PTTL}. A missing counter starts from the instance's clock in
 * microseconds, so a counter that expired or was lost in a restart still
 * starts above every token handed out before (fewer than one acquisition per
 * microsecond is all that needs).
 */
export const ACQUIRE = script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('INCR', KEYS[2])
  else
    local now = redis.call('TIME')
    redis.call('SET', KEYS[2], string.format('%d%06d', tonumber(now[1]), tonumber(now[2])))
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return {1, redis.call('GET', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
`);

/** KEYS[1] lock key; ARGV[1] secret, ARGV[2] TTL ms. 1 when extended. */
export const EXTEND = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`);

/** KEYS[1] lock key; ARGV[1] secret. 1 when this secret's key was deleted. */
export const RELEASE = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
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
