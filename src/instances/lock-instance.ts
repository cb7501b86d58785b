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
   * SET the lock key to `secret` with NX and PX `ttlMs`; on success bump the
   * name's fencing counter and return it, otherwise return the holder's
   * remaining TTL (negative when unknown).
   */
  acquire(keys: LockKeys, secret: string, ttlMs: number, fenceRetentionMs: number): Promise<AcquireReply>;

  /** Sets a new TTL where the key still holds `secret`; false when it does not. */
  extend(lockKey: string, secret: string, ttlMs: number): Promise<boolean>;

  /** Deletes the key where it still holds `secret`; false when it does not. */
  release(lockKey: string, secret: string): Promise<boolean>;

  /** Raises the fencing counter to at least `token`; returns the counter after. */
  raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint>;

  /** Resolves once connected, or after `timeoutMs` either way (start-up). */
  waitUntilConnected(timeoutMs: number): Promise<void>;

  /** Resolves when the instance answers. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

export interface LockKeys {
  lock: string;
  fence: string;
}

export type AcquireReply = { granted: true; fence: bigint } | { granted: false; holderTtlMs: number };
