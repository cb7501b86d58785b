import type { Clock } from "../redlock/clock.ts";
import type { AcquireReply, LockInstance, LockKeys } from "./lock-instance.ts";

interface Entry {
  value: string;
  /** On the monotonic clock; undefined: no expiry. */
  expiresAtMs: number | undefined;
}

/**
 * An instance living in this process: the embedded default when no instances
 * are configured. Same semantics as the Lua scripts, so the engine cannot
 * tell the difference. It protects nothing across processes.
 */
export class MemoryInstance implements LockInstance {
  readonly name: string;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();

  constructor(name: string, clock: Clock) {
    this.name = name;
    this.#clock = clock;
  }

  async acquire(keys: LockKeys, secret: string, ttlMs: number, fenceRetentionMs: number): Promise<AcquireReply> {
    const holder = this.#get(keys.lock);
    if (holder) {
      const ttl = holder.expiresAtMs === undefined ? -1 : Math.ceil(holder.expiresAtMs - this.#clock.monotonicMs());
      return { granted: false, holderTtlMs: ttl };
    }
    this.#set(keys.lock, secret, ttlMs);
    const counter = this.#get(keys.fence);
    const fence = counter ? BigInt(counter.value) + 1n : BigInt(Math.floor(this.#clock.wallMs() * 1000));
    this.#set(keys.fence, fence.toString(), fenceRetentionMs);
    return { granted: true, fence };
  }

  async extend(lockKey: string, secret: string, ttlMs: number): Promise<boolean> {
    if (this.#get(lockKey)?.value !== secret) return false;
    this.#set(lockKey, secret, ttlMs);
    return true;
  }

  async release(lockKey: string, secret: string): Promise<boolean> {
    if (this.#get(lockKey)?.value !== secret) return false;
    this.#entries.delete(lockKey);
    return true;
  }

  async raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    const current = this.#get(fenceKey);
    const next = current && BigInt(current.value) >= token ? BigInt(current.value) : token;
    this.#set(fenceKey, next.toString(), fenceRetentionMs);
    return next;
  }

  async waitUntilConnected(): Promise<void> {}

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#entries.clear();
  }

  /** Keys held now (expired ones are dropped first): for tests and leak checks. */
  keyCount(): number {
    for (const key of [...this.#entries.keys()]) this.#get(key);
    return this.#entries.size;
  }

  #get(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry?.expiresAtMs !== undefined && entry.expiresAtMs <= this.#clock.monotonicMs()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #set(key: string, value: string, ttlMs: number): void {
    this.#entries.set(key, { value, expiresAtMs: this.#clock.monotonicMs() + ttlMs });
  }
}
