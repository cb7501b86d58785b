import type { Clock } from "../util/clock.ts";
import type { LockInstance } from "./lock-instance.ts";

interface Pending {
  lockKey: string;
  secret: string;
  /** After this (monotonic ms) the key has expired anyway. */
  untilMs: number;
}

/**
 * Releases an instance could not take when they were sent (its circuit was
 * open, the call failed or timed out), sent again once it answers: a grant's
 * SET that landed late must not outlive the lease as a stale key. Each is
 * kept only while the key could still live, and at most `limit` are kept.
 */
export class PendingReleases {
  readonly #clock: Clock;
  readonly #keepMs: number;
  readonly #limit: number;
  readonly #pending = new Map<string, Pending>();
  #flushing = false;

  /** `keepMs`: the longest a key can live (the longest TTL); `limit`: most releases kept. */
  constructor(clock: Clock, keepMs: number, limit = 10_000) {
    this.#clock = clock;
    this.#keepMs = keepMs;
    this.#limit = limit;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Keeps a release to send again later. */
  add(lockKey: string, secret: string): void {
    const id = `${lockKey}\u0000${secret}`;
    this.#pending.delete(id);
    if (this.#pending.size >= this.#limit) {
      // The oldest goes first: it is the nearest to expiring on its own.
      const oldest = this.#pending.keys().next().value;
      if (oldest !== undefined) this.#pending.delete(oldest);
    }
    this.#pending.set(id, { lockKey, secret, untilMs: this.#clock.monotonicMs() + this.#keepMs });
  }

  /**
   * Sends every kept release again (not counted as votes); those that fail
   * stay for the next time. One flush at a time.
   */
  flush(instance: LockInstance): void {
    if (this.#flushing || this.#pending.size === 0) return;
    this.#flushing = true;
    const nowMs = this.#clock.monotonicMs();
    const batch = [...this.#pending.entries()];
    this.#pending.clear();
    const sends = batch.map(async ([id, pending]) => {
      if (pending.untilMs <= nowMs) return;
      try {
        await instance.release(pending.lockKey, pending.secret);
      } catch {
        if (!this.#pending.has(id)) this.#pending.set(id, pending);
      }
    });
    void Promise.allSettled(sends).then(() => {
      this.#flushing = false;
    });
  }
}
