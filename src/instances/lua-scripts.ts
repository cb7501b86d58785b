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
 * The acquire step, shared by ACQUIRE and HANDOVER.
 *
 * Waiting tickets (fairness across sidecars) live in a hash, the queue key:
 * ticket -> expiry (ms, instance clock). A ticket starts with the waiter's
 * zero-padded wall-clock start time, so every instance orders tickets the
 * same way (oldest = smallest string): the same waiter wins on every
 * instance and votes do not split. A live ticket older than the caller's
 * blocks the caller even when the lock is free, so a newcomer cannot
 * overtake a sidecar that has waited longer. Tickets expire unless
 * refreshed by their owner's attempts, so a waiter that died holds others
 * up for at most one ticket TTL.
 *
 * `overtake` '1' grants a free lock whatever the tickets (a handover within
 * a sidecar's batch, see the engine); the caller's ticket is still honoured.
 *
 * Returns {1, counter} when granted, else {0, holder's PTTL} (-2 when the
 * lock is free but an older ticket goes first).
 *
 * A missing counter starts from the instance's clock in microseconds, so a
 * counter that expired or was lost in a restart still starts above every
 * token handed out before (fewer than one grant per microsecond is all that
 * needs).
 */
const ACQUIRE_STEP = `
local function acquire(lockKey, fenceKey, queueKey, secret, ttlMs, retentionMs, ticket, ticketTtlMs, overtake)
  local oldest = nil
  local entries = redis.call('HGETALL', queueKey)
  if #entries > 0 or ticket ~= '' then
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    for i = 1, #entries, 2 do
      if tonumber(entries[i + 1]) <= now then
        redis.call('HDEL', queueKey, entries[i])
      elseif oldest == nil or entries[i] < oldest then
        oldest = entries[i]
      end
    end
    if ticket ~= '' then
      redis.call('HSET', queueKey, ticket, string.format('%d', now + tonumber(ticketTtlMs)))
      redis.call('PEXPIRE', queueKey, ticketTtlMs)
      if oldest == nil or ticket < oldest then oldest = ticket end
    end
  end
  if oldest == nil or oldest == ticket or overtake == '1' then
    if redis.call('SET', lockKey, secret, 'NX', 'PX', ttlMs) then
      if ticket ~= '' then redis.call('HDEL', queueKey, ticket) end
      if redis.call('EXISTS', fenceKey) == 1 then
        redis.call('INCR', fenceKey)
      else
        local t = redis.call('TIME')
        redis.call('SET', fenceKey, string.format('%d%06d', tonumber(t[1]), tonumber(t[2])))
      end
      redis.call('PEXPIRE', fenceKey, retentionMs)
      return {1, redis.call('GET', fenceKey)}
    end
  end
  return {0, redis.call('PTTL', lockKey)}
end
`;

/**
 * Publishes a release notice: the tag, and the oldest live ticket when
 * tickets wait (format: engine/release-notice.ts), so that only the waiter
 * who goes next wakes.
 */
const ANNOUNCE_STEP = `
local function announce(queueKey, channel, tag)
  local entries = redis.call('HGETALL', queueKey)
  local oldest = nil
  if #entries > 0 then
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    for i = 1, #entries, 2 do
      if tonumber(entries[i + 1]) > now and (oldest == nil or entries[i] < oldest) then oldest = entries[i] end
    end
  end
  if oldest == nil then
    redis.call('PUBLISH', channel, tag)
  else
    redis.call('PUBLISH', channel, tag .. ' ' .. oldest)
  end
end
`;

/** The release step, shared by RELEASE and HANDOVER: 1 when this secret's key was deleted. */
const RELEASE_STEP = `
local function release(lockKey, secret)
  if redis.call('GET', lockKey) == secret then
    redis.call('DEL', lockKey)
    return 1
  end
  return 0
end
`;

/**
 * KEYS[1] lock key, KEYS[2] fencing counter, KEYS[3] ticket hash;
 * ARGV[1] secret, ARGV[2] TTL ms, ARGV[3] counter retention ms,
 * ARGV[4] the caller's ticket ('' for none), ARGV[5] ticket TTL ms,
 * ARGV[6] '1' to overtake older tickets.
 */
export const ACQUIRE = script(`${ACQUIRE_STEP}
return acquire(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
`);

/**
 * Renews many leases in one call. KEYS[i] lock key; ARGV[1] '1' to adopt
 * missing keys (restart quarantine catch-up), then ARGV[2i] secret and
 * ARGV[2i+1] TTL ms for KEYS[i]. Returns, per key, 1 when the secret holds
 * the key.
 *
 * A renewal never shortens a key: the owner may have been told a later end
 * by an earlier, longer renewal, and a shorter one must not let another
 * caller in before it. So the TTL only ever grows (a key without expiry,
 * PTTL -1, is left alone).
 */
export const EXTEND = script(`
local adopt = ARGV[1] == '1'
local extended = {}
for i = 1, #KEYS do
  local secret, ttl = ARGV[2 * i], ARGV[2 * i + 1]
  local current = redis.call('GET', KEYS[i])
  if current == secret then
    local left = redis.call('PTTL', KEYS[i])
    if left >= 0 and left < tonumber(ttl) then redis.call('PEXPIRE', KEYS[i], ttl) end
    extended[i] = 1
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
 * KEYS[1] lock key, KEYS[2] ticket hash (when announcing); ARGV[1] secret,
 * ARGV[2] channel to announce the release on ('' for none), ARGV[3] a tag
 * naming this release (never the secret). 1 when this secret's key was
 * deleted. Announcing from the script keeps a release at one command per
 * instance; the waiter who goes next retries at once instead of on a timer.
 */
export const RELEASE = script(`${RELEASE_STEP}${ANNOUNCE_STEP}
local released = release(KEYS[1], ARGV[1])
if released == 1 and ARGV[2] ~= '' then announce(KEYS[2], ARGV[2], ARGV[3]) end
return released
`);

/**
 * A release and the next local waiter's acquire in one step, so a lock
 * passed between callers of one sidecar costs one round trip, and is never
 * free in between for anyone but an older waiting ticket. KEYS as ACQUIRE;
 * ARGV[1..3] as RELEASE, ARGV[4..9] as ACQUIRE's ARGV[1..6]. The release
 * is announced only when the lock is left free (the waiter was refused).
 * Returns {released, granted, counter or holder's PTTL}.
 */
export const HANDOVER = script(`${RELEASE_STEP}${ACQUIRE_STEP}${ANNOUNCE_STEP}
local released = release(KEYS[1], ARGV[1])
-- Overtaking is for a lock passed on, never for one found free.
local overtake = ARGV[9]
if released == 0 then overtake = '' end
local reply = acquire(KEYS[1], KEYS[2], KEYS[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], overtake)
if released == 1 and reply[1] == 0 and ARGV[2] ~= '' then announce(KEYS[3], ARGV[2], ARGV[3]) end
return {released, reply[1], reply[2]}
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

/**
 * The longest PTTL among KEYS (lock keys found by SCAN on a witness, see
 * docs/design.md "Restarted instances"): 0 when none is left, -1 when one
 * has no expiry. Keys SCAN returned may have expired since: PTTL -2.
 */
export const LONGEST_TTL = script(`
local longest = 0
for i = 1, #KEYS do
  local left = redis.call('PTTL', KEYS[i])
  if left == -1 then return -1 end
  if left > longest then longest = left end
end
return longest
`);
