import { createHash } from "node:crypto";
import {
  ACQUIRE_ARGV,
  ACQUIRE_KEYS,
  EXTEND_ARGV,
  HANDOVER_ARGV,
  RAISE_FENCE_ARGV,
  RAISE_FENCE_KEYS,
  READ_LOCK_KEYS,
  RELEASE_ARGV,
  RELEASE_KEYS,
  WITHDRAW_TICKET_ARGV,
  WITHDRAW_TICKET_KEYS,
} from "./script-args.ts";

/**
 * The Lua scripts run on each instance. Rules they follow:
 * - every key they touch comes in KEYS (Dragonfly refuses undeclared keys);
 * - they are valid Lua 5.1 (Redis) and 5.4 (Dragonfly): no integer division,
 *   no bit operators, no unpack/table.unpack;
 * - numbers travel as decimal strings, compared by length then lexically, so
 *   counters are exact whatever the Lua number type.
 * Each script first names its KEYS and ARGV with the lists in script-args.ts,
 * whose encoders fill them; the bodies use only those names.
 * LockStore (lock-store.ts) holds the same semantics in process; the suite
 * in test/contract/ runs both.
 * Longer than most files on purpose: the scripts are text that runs
 * elsewhere, kept together so their shared rules can be checked at a glance.
 */
export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

function script(source: string): LuaScript {
  return { source, sha1: createHash("sha1").update(source).digest("hex") };
}

/** `local a, b = ARGV[1], ARGV[2]`: the script's arguments under the encoder's names. */
function bind(table: "KEYS" | "ARGV", names: readonly string[]): string {
  return `local ${names.join(", ")} = ${names.map((_, i) => `${table}[${i + 1}]`).join(", ")}`;
}

/**
 * Whether a lock key's value is held by this secret: the secret alone (an
 * older sidecar's key, or an adopted one) or followed by a space and its
 * holder (see lockValue in script-args.ts). Secrets hold no space, so a
 * prefix of a secret never matches.
 */
const HOLDS = `
local function holds(value, secret)
  if not value then return false end
  return value == secret or string.sub(value, 1, #secret + 1) == secret .. ' '
end
`;

/** The instance's clock in ms, for ticket expiries. */
const CLOCK_MS = `
local function clockMs()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
`;

/**
 * The acquire step, shared by ACQUIRE and HANDOVER. Returns {1, counter}
 * when granted, else {0, holder's PTTL}: -2 when the lock is free but an
 * older ticket goes first.
 *
 * Waiting tickets live in a hash, the queue key: ticket -> expiry (ms, on
 * the instance's clock). A ticket starts with its waiter's zero-padded
 * wall-clock start time, so every instance orders tickets the same way and
 * the same waiter wins everywhere: votes do not split.
 *
 * The lock key holds the secret, then the holder (owner and since) when the
 * caller gave one: Describe reads who holds the lock at no extra command.
 *
 * A free lock nobody waits for costs HGETALL, SET, INCR and PEXPIRE. The
 * clock is read only to judge an older ticket or to register the caller's,
 * and the caller's ticket is registered only when it is refused.
 */
const ACQUIRE_STEP = `${CLOCK_MS}
local function acquire(lockKey, fenceKey, queueKey, secret, ttlMs, retentionMs, ticket, ticketTtlMs, overtake, holder)
  -- Only the oldest waiter may take the lock, so a newcomer cannot pass a
  -- sidecar that waited longer. Overtaking skips this for a handover within
  -- a sidecar's batch, whose callers all queued before it won the lock.
  local entries = redis.call('HGETALL', queueKey)
  local first, registered, now = true, false, nil
  for i = 1, #entries, 2 do
    if entries[i] == ticket then
      registered = true
    elseif overtake ~= '1' and (ticket == '' or entries[i] < ticket) then
      first = false
    end
  end
  -- An older ticket is there: only the clock tells whether it still lives.
  -- Expired ones are dropped on the way: a waiter that died holds the
  -- others up for one ticket TTL at most.
  if not first then
    now = clockMs()
    first = true
    for i = 1, #entries, 2 do
      if tonumber(entries[i + 1]) <= now then
        redis.call('HDEL', queueKey, entries[i])
        if entries[i] == ticket then registered = false end
      elseif entries[i] ~= ticket and (ticket == '' or entries[i] < ticket) then
        first = false
      end
    end
  end
  local value = secret
  if holder ~= '' then value = secret .. ' ' .. holder end
  if first and redis.call('SET', lockKey, value, 'NX', 'PX', ttlMs) then
    -- Granted: the caller waits no more.
    if registered then redis.call('HDEL', queueKey, ticket) end
    -- Bump the fencing counter. A missing one (INCR answers 1) starts from
    -- the clock in microseconds, so a counter that expired or was lost in a
    -- restart still starts above every token handed out before.
    local counter = redis.call('INCR', fenceKey)
    if counter == 1 then
      local t = redis.call('TIME')
      counter = string.format('%d%06d', tonumber(t[1]), tonumber(t[2]))
      redis.call('SET', fenceKey, counter, 'PX', retentionMs)
      return {1, counter}
    end
    redis.call('PEXPIRE', fenceKey, retentionMs)
    -- Lua 5.1 holds INCR's answer as a double: exact below 2^53 only.
    if counter >= 9007199254740992 then return {1, redis.call('GET', fenceKey)} end
    return {1, string.format('%d', counter)}
  end
  -- Refused: register or refresh the caller's ticket. It lives while its
  -- owner keeps trying, and it makes a release announce itself.
  if ticket ~= '' then
    redis.call('HSET', queueKey, ticket, string.format('%d', (now or clockMs()) + tonumber(ticketTtlMs)))
    redis.call('PEXPIRE', queueKey, ticketTtlMs)
  end
  -- Tell the caller how long the holder has left.
  return {0, redis.call('PTTL', lockKey)}
end
`;

/**
 * Publishes a release notice: the tag and the oldest live ticket (format:
 * release-notice.ts), the waiter that goes next. Only that waiter needs to
 * wake; the others would be refused in its favour.
 *
 * Nothing is published when no live ticket waits, as nobody then waits
 * for a notice: the head of each sidecar's queue registers its ticket at
 * each refused attempt and tries again within a third of the ticket TTL
 * (waiting-acquire.ts), and the callers behind it share its subscription.
 * Without tickets a release costs GET, DEL and HGETALL. See docs/design.md
 * "Release notices only when someone waits".
 */
const ANNOUNCE_STEP = `
local function announce(queueKey, channel, tag)
  local entries = redis.call('HGETALL', queueKey)
  if #entries == 0 then return end
  -- The oldest ticket that has not expired; nothing is deleted here.
  local now = clockMs()
  local oldest = nil
  for i = 1, #entries, 2 do
    if tonumber(entries[i + 1]) > now and (oldest == nil or entries[i] < oldest) then oldest = entries[i] end
  end
  if oldest ~= nil then redis.call('PUBLISH', channel, tag .. ' ' .. oldest) end
end
`;

/** The release step, shared by RELEASE and HANDOVER: 1 when this secret's key was deleted. */
const RELEASE_STEP = `${HOLDS}
local function release(lockKey, secret)
  -- Compare and delete: a caller whose lease ran out must not free another's.
  if holds(redis.call('GET', lockKey), secret) then
    redis.call('DEL', lockKey)
    return 1
  end
  return 0
end
`;

/** Acquires one lock (see ACQUIRE_STEP). */
export const ACQUIRE = script(`${ACQUIRE_STEP}
${bind("KEYS", ACQUIRE_KEYS)}
${bind("ARGV", ACQUIRE_ARGV)}
return acquire(lockKey, fenceKey, queueKey, secret, ttlMs, retentionMs, ticket, ticketTtlMs, overtake, holder)
`);

/**
 * Renews many leases in one call: KEYS[i] is renewed with ARGV[2i] (secret)
 * and ARGV[2i+1] (TTL ms). Returns 1 or 0 per key: whether its secret holds it.
 */
export const EXTEND = script(`${HOLDS}
${bind("ARGV", EXTEND_ARGV)}
local extended = {}
for i = 1, #KEYS do
  local secret, ttl = ARGV[2 * i], ARGV[2 * i + 1]
  local current = redis.call('GET', KEYS[i])
  if holds(current, secret) then
    -- Never shorten a key: an earlier, longer renewal may have told the
    -- owner a later end, and a shorter one must not let another caller in
    -- before it. A key without expiry (PTTL -1) is left alone.
    local left = redis.call('PTTL', KEYS[i])
    if left >= 0 and left < tonumber(ttl) then redis.call('PEXPIRE', KEYS[i], ttl) end
    extended[i] = 1
  elseif (not current) and adopt == '1' then
    -- Adopt a missing key: how an instance in restart quarantine catches
    -- up with the leases it forgot. Another holder's key is never taken.
    -- The holder is not known here: the key holds the secret alone.
    redis.call('SET', KEYS[i], secret, 'PX', ttl)
    extended[i] = 1
  else
    extended[i] = 0
  end
end
return extended
`);

/**
 * Releases one lock; 1 when this secret's key was deleted. Announcing from
 * the script keeps a release at one call per instance, and the waiter who
 * goes next retries at once instead of on a timer.
 */
export const RELEASE = script(`${RELEASE_STEP}${CLOCK_MS}${ANNOUNCE_STEP}
${bind("KEYS", RELEASE_KEYS)}
${bind("ARGV", RELEASE_ARGV)}
local released = release(lockKey, heldSecret)
-- Announce only a release that happened, and only when asked to.
if released == 1 and channel ~= '' then announce(queueKey, channel, tag) end
return released
`);

/**
 * A release and the next local waiter's acquire in one step, so a lock
 * passed between callers of one sidecar costs one round trip and is never
 * free in between, except to an older waiting ticket. Returns {released,
 * granted, counter or holder's PTTL}.
 */
export const HANDOVER = script(`${RELEASE_STEP}${ACQUIRE_STEP}${ANNOUNCE_STEP}
${bind("KEYS", ACQUIRE_KEYS)}
${bind("ARGV", HANDOVER_ARGV)}
local released = release(lockKey, heldSecret)
-- Overtaking is for a lock passed on, never for one found free.
if released == 0 then overtake = '' end
local reply = acquire(lockKey, fenceKey, queueKey, secret, ttlMs, retentionMs, ticket, ticketTtlMs, overtake, holder)
-- Announce only when the lock was left free (an older ticket goes first):
-- a lock passed on is not free, so waking anyone would be noise.
if released == 1 and reply[1] == 0 and channel ~= '' then announce(queueKey, channel, tag) end
return {released, reply[1], reply[2]}
`);

/** Withdraws a waiting ticket (its waiter gave up). */
export const WITHDRAW_TICKET = script(`
${bind("KEYS", WITHDRAW_TICKET_KEYS)}
${bind("ARGV", WITHDRAW_TICKET_ARGV)}
return redis.call('HDEL', queueKey, ticket)
`);

/** Raises the fencing counter to at least the token; returns the counter after. */
export const RAISE_FENCE = script(`
${bind("KEYS", RAISE_FENCE_KEYS)}
${bind("ARGV", RAISE_FENCE_ARGV)}
local current = redis.call('GET', fenceKey)
-- Compare as decimal strings (shorter is smaller): exact past 2^53.
if (not current) or #current < #token or (#current == #token and current < token) then
  redis.call('SET', fenceKey, token, 'PX', retentionMs)
  return token
end
-- Already as high: keep it, and keep it as long as a raised one would be.
redis.call('PEXPIRE', fenceKey, retentionMs)
return current
`);

/**
 * The longest PTTL among KEYS (lock keys SCAN found on a witness, see
 * docs/design.md "Restarted instances"): 0 when none is left, -1 when one
 * has no expiry.
 */
export const LONGEST_TTL = script(`
local longest = 0
for i = 1, #KEYS do
  -- A key SCAN returned may have expired since (PTTL -2): it counts as 0.
  local left = redis.call('PTTL', KEYS[i])
  -- A key without expiry could live for ever: no bound can be given.
  if left == -1 then return -1 end
  if left > longest then longest = left end
end
return longest
`);

/**
 * Reads one lock for Describe and writes nothing: {PTTL, holder's text or
 * '', fencing counter or '', live tickets}. Only what follows the secret in
 * the lock key's value leaves the instance, never the secret. The clock is
 * read only when tickets are there to judge. Costs PTTL, GET, GET and
 * HGETALL (and TIME).
 */
export const READ_LOCK = script(`${CLOCK_MS}
${bind("KEYS", READ_LOCK_KEYS)}
local ttl = redis.call('PTTL', lockKey)
local holder = ''
if ttl ~= -2 then
  local value = redis.call('GET', lockKey)
  local space = value and string.find(value, ' ', 1, true)
  if space then holder = string.sub(value, space + 1) end
end
local fence = redis.call('GET', fenceKey) or ''
local entries = redis.call('HGETALL', queueKey)
local waiting = 0
if #entries > 0 then
  local now = clockMs()
  for i = 2, #entries, 2 do
    if tonumber(entries[i]) > now then waiting = waiting + 1 end
  end
end
return {ttl, holder, fence, waiting}
`);
