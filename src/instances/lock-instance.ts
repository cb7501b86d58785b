/**
 * What the Redlock engine needs from one independent instance. Two
 * implementations: `RedisInstance` (any Redis-protocol server, Dragonfly in
 * production) and `MemoryInstance` (the embedded single-process default).
 * Implementations do not time out on their own terms: the engine bounds every
 * call with the per-instance timeout.
 */
export interface LockInstance {
  /** Where the instance is, for logs: never includes credentials. */
  readonly name: string;

  /**
   * Unless an older live waiting ticket than the caller's exists, SET the
   * lock key to the secret with NX and PX; on success bump the name's
   * fencing counter and return it, otherwise return the holder's remaining
   * TTL (negative when unknown). A non-empty ticket is registered (or
   * refreshed) while the caller waits, and withdrawn when it is granted.
   */
  acquire(request: InstanceAcquire): Promise<AcquireReply>;

  /**
   * For each item, sets a new TTL where the key still holds its secret; one
   * call carries many leases (renewals due together). Answers per item:
   * false where the key does not hold the secret. With `adopt`, a missing
   * key is created too: how an instance in restart quarantine catches up
   * with leases it forgot.
   */
  extend(items: readonly ExtendItem[], adopt?: boolean): Promise<boolean[]>;

  /**
   * Deletes the key where it still holds `secret`, and then announces the
   * release with `announce.tag` on `announce.channel`, when given. False
   * when it did not hold it.
   */
  release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean>;

  /**
   * `release`, then `acquire` for another caller, as one atomic step: the
   * lock passes from one caller of this sidecar to the next in one round
   * trip and is never free in between, except to an older waiting ticket
   * (which then wins as with `acquire`). The release is announced only when
   * it leaves the lock free.
   */
  handover(release: InstanceRelease, acquire: InstanceAcquire): Promise<HandoverReply>;

  /** Withdraws a waiting ticket (a waiter gave up). */
  withdrawTicket(queueKey: string, ticket: string): Promise<void>;

  /** Raises the fencing counter to at least `token`; returns the counter after. */
  raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint>;

  /**
   * Calls `onRelease` with the notice of each release announced on `channel`;
   * resolves once subscribed. The returned function unsubscribes.
   */
  watchReleases(channel: string, onRelease: (tag: string) => void): Promise<() => void>;

  /**
   * Who the server is and how long it has run (INFO server): its run_id
   * changes when it restarts, and with it everything it held is gone.
   */
  identify(): Promise<InstanceIdentity>;

  /**
   * Whether the server may evict keys when memory runs short (a Redis
   * maxmemory-policy other than noeviction, Dragonfly's cache mode), which
   * would drop held locks. Optional: an instance without it never evicts.
   */
  evictionPolicy?(): Promise<EvictionPolicy>;

  /** Increments on every (re)connection: replies from a new connection need the identity checked again. */
  connectionEpoch(): number;

  /** Resolves once connected, or after `timeoutMs` either way (start-up). */
  waitUntilConnected(timeoutMs: number): Promise<void>;

  /** Resolves when the instance answers. */
  ping(): Promise<void>;

  /**
   * The longest remaining TTL (ms) of the keys matching a SCAN pattern: 0
   * without any, Infinity when one has no expiry. How a witness shows how
   * long the leases a restarted instance forgot can still live. Once
   * `signal` aborts, no further command is sent and the call rejects: a
   * scan whose caller gave up would only load the instance.
   */
  longestTtlMs(pattern: string, signal?: AbortSignal): Promise<number>;

  /**
   * Reads one lock and writes nothing: its remaining TTL, its holder as the
   * acquire recorded it (never its secret), its fencing counter and how many
   * live tickets wait for it. What Describe asks each instance.
   */
  readLock(keys: LockKeys): Promise<LockReading>;

  close(): Promise<void>;
}

export interface InstanceIdentity {
  /** INFO server run_id; undefined for a server that does not report one. */
  runId: string | undefined;
  /** INFO server uptime_in_seconds, in ms (whole seconds); undefined when not reported. */
  uptimeMs: number | undefined;
}

/**
 * An instance's eviction setting as read from it: `setting` and `value` as
 * the server names them (maxmemory-policy allkeys-lru, cache_mode cache).
 * Unknown when the server refused every way of reading it (ACL, renamed
 * CONFIG); `reason` says which.
 */
export type EvictionPolicy =
  | { known: true; setting: string; value: string; mayEvict: boolean }
  | { known: false; reason: string };

/** Every key and channel of one lock name. */
export interface LockKeys {
  lock: string;
  fence: string;
  /** Hash of waiting tickets. */
  queue: string;
  /** Pub/sub channel releases are announced on. */
  channel: string;
}

export interface ExtendItem {
  lockKey: string;
  secret: string;
  ttlMs: number;
}

/**
 * Where and under which tag a release is announced; the tag is never the
 * secret. The notice also names the oldest live ticket of `queueKey`, the
 * waiter that goes next (see engine/release-notice.ts).
 */
export interface Announcement {
  channel: string;
  tag: string;
  queueKey: string;
}

/**
 * Who holds a lock, written beside the secret in the lock key's value by the
 * acquire that takes it, so that any sidecar can say who holds it. Never the
 * secret or the lease id.
 */
export interface LockHolder {
  /** AcquireRequest.owner: free-form, possibly empty, without control characters. */
  owner: string;
  /** When the granting attempt started, on the granting sidecar's wall clock (whole ms since the epoch). */
  sinceMs: number;
}

/** One instance's view of one lock (readLock). */
export interface LockReading {
  /** The lock key's remaining TTL in ms, as PTTL says it: -2 when free, -1 without expiry. */
  ttlMs: number;
  /** Undefined when free, or when the key holds its secret alone (an older sidecar's, or an adopted one). */
  holder: LockHolder | undefined;
  /** The fencing counter; undefined when the instance keeps none. */
  fence: bigint | undefined;
  /** Waiting tickets that have not expired. */
  tickets: number;
}

export interface InstanceAcquire {
  keys: LockKeys;
  secret: string;
  /** Recorded with the lock when granted; undefined: the secret alone, as sidecars before it wrote. */
  holder?: LockHolder | undefined;
  ttlMs: number;
  fenceRetentionMs: number;
  /** The caller's waiting ticket (ordered as strings: oldest first); '' for a caller that does not wait. */
  ticket: string;
  ticketTtlMs: number;
  /**
   * Take a free lock even before older tickets (the caller's own is still
   * registered and consumed): a handover within a sidecar's batch, whose
   * callers were all queued when the sidecar won the lock fairly.
   */
  overtake?: boolean | undefined;
}

/** What `handover` releases: the key where it holds `secret`, announced when left free. */
export interface InstanceRelease {
  lockKey: string;
  secret: string;
  announce?: Announcement | undefined;
}

export interface HandoverReply {
  /** The released secret held the key (as `release` answers). */
  released: boolean;
  /** The next caller's acquire (as `acquire` answers). */
  acquire: AcquireReply;
}

export type AcquireReply = { granted: true; fence: bigint } | { granted: false; holderTtlMs: number };
