import type {
  AcquireReply,
  Announcement,
  ExtendItem,
  HandoverReply,
  InstanceAcquire,
  InstanceRelease,
  LockHolder,
  LockKeys,
  LockReading,
} from "./lock-instance.ts";

/**
 * What each Lua script (lua-scripts.ts) takes and gives back. The scripts
 * read their KEYS and ARGV by position; the positions are written down once,
 * in the name lists below. The scripts bind the same lists to local names
 * (see `bind` in lua-scripts.ts), and the encoders fill them by
 * name, so the two cannot fall out of step.
 */
export interface ScriptCall {
  keys: string[];
  args: (string | number)[];
}

/** ACQUIRE's KEYS; HANDOVER takes the same. */
export const ACQUIRE_KEYS = ["lockKey", "fenceKey", "queueKey"] as const;
/**
 * ACQUIRE's ARGV. Numbers are milliseconds; overtake is '1' or ''; holder is
 * holderText's, or '' to store the secret alone.
 */
export const ACQUIRE_ARGV = ["secret", "ttlMs", "retentionMs", "ticket", "ticketTtlMs", "overtake", "holder"] as const;
/** RELEASE's KEYS: the ticket hash only when the release is announced. */
export const RELEASE_KEYS = ["lockKey", "queueKey"] as const;
/** RELEASE's ARGV: the channel is '' when nothing is announced. */
export const RELEASE_ARGV = ["heldSecret", "channel", "tag"] as const;
/** HANDOVER's ARGV: RELEASE's, then ACQUIRE's. */
export const HANDOVER_ARGV = [...RELEASE_ARGV, ...ACQUIRE_ARGV] as const;
/** EXTEND's ARGV before the per-key pairs (secret, TTL ms for KEYS[i] at ARGV[2i], ARGV[2i+1]). */
export const EXTEND_ARGV = ["adopt"] as const;
export const WITHDRAW_TICKET_KEYS = ["queueKey"] as const;
export const WITHDRAW_TICKET_ARGV = ["ticket"] as const;
export const RAISE_FENCE_KEYS = ["fenceKey"] as const;
/** READ_LOCK's KEYS; it takes no ARGV. */
export const READ_LOCK_KEYS = ["lockKey", "fenceKey", "queueKey"] as const;
/** The token travels as a decimal string: it may pass 2^53. */
export const RAISE_FENCE_ARGV = ["token", "retentionMs"] as const;

type Value = string | number;

/** The values in the order of `names`; the record type makes every name required. */
function ordered<const Names extends readonly string[], V>(names: Names, values: Record<Names[number], V>): V[] {
  return names.map((name: Names[number]) => values[name]);
}

function acquireValues(r: InstanceAcquire): Record<(typeof ACQUIRE_ARGV)[number], Value> {
  return {
    secret: r.secret,
    ttlMs: r.ttlMs,
    retentionMs: r.fenceRetentionMs,
    ticket: r.ticket,
    ticketTtlMs: r.ticketTtlMs,
    overtake: r.overtake === true ? "1" : "",
    holder: r.holder === undefined ? "" : holderText(r.holder),
  };
}

/**
 * The lock key's value: the secret, then a space and the holder's text when
 * there is one (the scripts join them the same way). Secrets never hold a
 * space, so the first one ends the secret.
 */
export function lockValue(secret: string, holder: LockHolder | undefined): string {
  return holder === undefined ? secret : `${secret} ${holderText(holder)}`;
}

/** `<sinceMs> <owner>`: the owner last, as it may hold spaces. */
export function holderText(holder: LockHolder): string {
  return `${Math.floor(holder.sinceMs)} ${holder.owner}`;
}

/** holderText's reverse; undefined for '' (none recorded) or text it did not write. */
export function parseHolder(text: string): LockHolder | undefined {
  const match = /^(\d{1,16}) (.*)$/s.exec(text);
  return match ? { owner: match[2]!, sinceMs: Number(match[1]) } : undefined;
}

/** The holder recorded in a lock key's value, if any. */
export function holderOfValue(value: string): LockHolder | undefined {
  const space = value.indexOf(" ");
  return space < 0 ? undefined : parseHolder(value.slice(space + 1));
}

/**
 * Whether a lock key's value is held by `secret`: the secret alone, or
 * followed by a space and its holder. A prefix of the secret does not match.
 */
export function holdsSecret(value: string | undefined, secret: string): boolean {
  return value !== undefined && (value === secret || value.startsWith(`${secret} `));
}

function releaseValues(
  secret: string,
  announce: Announcement | undefined,
): Record<(typeof RELEASE_ARGV)[number], Value> {
  return { heldSecret: secret, channel: announce?.channel ?? "", tag: announce?.tag ?? "" };
}

function acquireKeys(r: InstanceAcquire): string[] {
  return ordered(ACQUIRE_KEYS, { lockKey: r.keys.lock, fenceKey: r.keys.fence, queueKey: r.keys.queue });
}

export function acquireCall(r: InstanceAcquire): ScriptCall {
  return { keys: acquireKeys(r), args: ordered(ACQUIRE_ARGV, acquireValues(r)) };
}

export function releaseCall(lockKey: string, secret: string, announce?: Announcement): ScriptCall {
  // Dragonfly refuses undeclared keys: the ticket hash is declared when the notice will read it.
  const keys = announce ? [lockKey, announce.queueKey] : [lockKey];
  return { keys, args: ordered(RELEASE_ARGV, releaseValues(secret, announce)) };
}

/** The release's lock key is the acquire's: HANDOVER passes one lock on. */
export function handoverCall(release: InstanceRelease, r: InstanceAcquire): ScriptCall {
  if (release.lockKey !== r.keys.lock)
    throw new Error(`handover of ${release.lockKey} to ${r.keys.lock}: not the same lock`);
  return {
    keys: acquireKeys(r),
    args: ordered(HANDOVER_ARGV, { ...releaseValues(release.secret, release.announce), ...acquireValues(r) }),
  };
}

export function extendCall(items: readonly ExtendItem[], adopt: boolean): ScriptCall {
  const args = ordered<typeof EXTEND_ARGV, Value>(EXTEND_ARGV, { adopt: adopt ? "1" : "0" });
  for (const item of items) args.push(item.secret, item.ttlMs);
  return { keys: items.map((item) => item.lockKey), args };
}

export function withdrawTicketCall(queueKey: string, ticket: string): ScriptCall {
  return { keys: [queueKey], args: ordered(WITHDRAW_TICKET_ARGV, { ticket }) };
}

export function raiseFenceCall(fenceKey: string, token: bigint, fenceRetentionMs: number): ScriptCall {
  return {
    keys: [fenceKey],
    args: ordered(RAISE_FENCE_ARGV, { token: token.toString(), retentionMs: fenceRetentionMs }),
  };
}

/** LONGEST_TTL: the keys one SCAN step found, no arguments. */
export function longestTtlCall(keys: readonly string[]): ScriptCall {
  return { keys: [...keys], args: [] };
}

export function readLockCall(keys: LockKeys): ScriptCall {
  return {
    keys: ordered(READ_LOCK_KEYS, { lockKey: keys.lock, fenceKey: keys.fence, queueKey: keys.queue }),
    args: [],
  };
}

/** READ_LOCK: {PTTL, holder's text or '', counter or '', live tickets}. */
export function readLockReply(reply: unknown): LockReading {
  if (!Array.isArray(reply) || reply.length !== 4) throw new Error(`unexpected read-lock reply ${String(reply)}`);
  const [ttl, holder, fence, tickets] = reply as unknown[];
  return {
    ttlMs: Number(ttl),
    holder: parseHolder(String(holder)),
    fence: fence === "" || fence === null ? undefined : BigInt(String(fence)),
    tickets: Number(tickets),
  };
}

/** ACQUIRE: {1, counter} granted; {0, holder's PTTL} refused. */
export function acquireReply(reply: unknown): AcquireReply {
  if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`unexpected acquire reply ${String(reply)}`);
  return acquireVerdict(reply[0], reply[1]);
}

/** HANDOVER: {released, granted, counter or holder's PTTL}. */
export function handoverReply(reply: unknown): HandoverReply {
  if (!Array.isArray(reply) || reply.length !== 3) throw new Error(`unexpected handover reply ${String(reply)}`);
  return { released: reply[0] === 1, acquire: acquireVerdict(reply[1], reply[2]) };
}

/** EXTEND: one 1 or 0 per item. */
export function extendReply(reply: unknown, items: number): boolean[] {
  if (!Array.isArray(reply) || reply.length !== items) {
    throw new Error(`unexpected extend reply of ${Array.isArray(reply) ? reply.length : typeof reply} items`);
  }
  return reply.map((answer) => answer === 1);
}

/** LONGEST_TTL: ms; -1 when a key has no expiry, which is Infinity here. */
export function longestTtlReply(reply: unknown): number {
  const longest = Number(reply);
  return longest < 0 ? Number.POSITIVE_INFINITY : longest;
}

function acquireVerdict(granted: unknown, detail: unknown): AcquireReply {
  if (granted === 1) return { granted: true, fence: BigInt(String(detail)) };
  return { granted: false, holderTtlMs: Number(detail) };
}
