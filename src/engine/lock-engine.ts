import { LockError } from "../errors/lock-error.ts";
import type { LockInstance } from "../instances/lock-instance.ts";
import type { Clock } from "../util/clock.ts";
import { throwIfAborted } from "../util/abort.ts";
import { AcquireOnce } from "./acquire-once.ts";
import { DescribeStep, type LockDescription } from "./describe-step.ts";
import { engineParts, type EngineDeps, type EngineOptions, type EngineParts } from "./engine-parts.ts";
import { ExtendStep } from "./extend-step.ts";
import { fanOut } from "./fan-out.ts";
import { lockKeys } from "../instances/keys.ts";
import type { AcquireResult, Lease } from "./lease.ts";
import type { LeaseId } from "./lease-id.ts";
import type { LeaseRegistry } from "./lease-registry.ts";
import { RedlockRound } from "./redlock-round.ts";
import { ReleaseStep } from "./release-step.ts";
import { WaitingAcquire } from "./waiting-acquire.ts";

export type { EngineDeps, EngineOptions } from "./engine-parts.ts";

/**
 * Redlock over N independent instances: acquire, extend and release leases.
 * Knows nothing of gRPC: it throws LockError and honours AbortSignals. It
 * checks this sidecar's limits and hands each call to its step: one try
 * (acquire-once.ts), the waiting loop (waiting-acquire.ts), extend-step.ts
 * and release-step.ts, all built on one Redlock round (redlock-round.ts).
 */
export class LockEngine {
  readonly instances: readonly LockInstance[];
  readonly quorum: number;
  readonly leases: LeaseRegistry;
  readonly #parts: EngineParts;
  readonly #once: AcquireOnce;
  readonly #waitingAcquire: WaitingAcquire;
  readonly #extend: ExtendStep;
  readonly #release: ReleaseStep;
  readonly #describe: DescribeStep;
  #waiting = 0;
  #acquiring = 0;

  constructor(instances: readonly LockInstance[], options: EngineOptions, deps: EngineDeps = {}) {
    if (instances.length === 0) throw new RangeError("the engine needs at least one instance");
    const parts = engineParts(instances, options, deps);
    this.#parts = parts;
    this.instances = instances;
    this.quorum = parts.quorum;
    this.leases = parts.leases;
    const round = new RedlockRound(parts);
    this.#release = new ReleaseStep(parts, round);
    this.#extend = new ExtendStep(parts, round);
    this.#once = new AcquireOnce(parts, round, this.#release);
    this.#waitingAcquire = new WaitingAcquire(parts, { round, once: this.#once, release: this.#release });
    this.#describe = new DescribeStep(parts);
  }

  get clock(): Clock {
    return this.#parts.clock;
  }

  /** Acquire calls waiting now, queued or at the head (for metrics). */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Tries to take `name`, waiting up to `waitMs` (see WaitingAcquire). Held
   * for the whole wait: `acquired: false`. Fewer than a majority answering
   * on the last attempt (the head's, for a caller still queued):
   * `unavailable`. An aborted signal rolls back the attempt in flight and
   * throws its reason. `owner` is recorded with the lock on the instances.
   */
  async acquire(name: string, ttlMs: number, waitMs: number, signal?: AbortSignal, owner = ""): Promise<AcquireResult> {
    throwIfAborted(signal);
    this.checkRoom();
    this.#acquiring++;
    try {
      return await this.#acquireCounted(name, ttlMs, waitMs, signal, owner);
    } finally {
      this.#acquiring--;
    }
  }

  /**
   * Throws resource-exhausted when this sidecar holds LOCK_MAX_LEASES leases:
   * before an acquire, or before keeping alive a lease new to it.
   */
  checkRoom(): void {
    const { maxLeases } = this.#parts.options;
    // Acquires in flight count too, so concurrent calls cannot overshoot.
    if (this.leases.sizeAt(this.clock.monotonicMs()) + this.#acquiring >= maxLeases) {
      throw new LockError("resource-exhausted", `this sidecar holds ${maxLeases} leases, its limit (LOCK_MAX_LEASES)`, {
        metadata: { setting: "LOCK_MAX_LEASES" },
      });
    }
  }

  async #acquireCounted(
    name: string,
    ttlMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
    owner: string,
  ): Promise<AcquireResult> {
    const { keyPrefix, maxWaiters } = this.#parts.options;
    const keys = lockKeys(keyPrefix, name);
    if (waitMs <= 0) return this.#once.acquire(name, keys, ttlMs, this.clock.monotonicMs(), signal, owner);
    if (this.#waiting >= maxWaiters) {
      throw new LockError(
        "resource-exhausted",
        `${maxWaiters} acquires are already waiting on this sidecar, its limit (LOCK_MAX_WAITERS)`,
        { metadata: { setting: "LOCK_MAX_WAITERS" } },
      );
    }
    this.#waiting++;
    try {
      return await this.#waitingAcquire.acquire(name, keys, ttlMs, waitMs, signal, owner);
    } finally {
      this.#waiting--;
    }
  }

  /** Renews a held lease for `ttlMs` from now; `not-held` when it is gone. */
  extend(name: string, lease: LeaseId, ttlMs: number, signal?: AbortSignal): Promise<Lease> {
    return this.#extend.extend(name, lease, ttlMs, signal);
  }

  /**
   * Deletes the lease wherever it is still held, handing the lock to a
   * caller waiting here if there is one. True when a majority still held
   * it; false when it was no longer held; `unavailable` when fewer than a
   * majority answered.
   */
  release(name: string, lease: LeaseId): Promise<boolean> {
    return this.#release.release(name, lease);
  }

  /** Who holds `name` and who waits, as a majority of instances sees it; `unavailable` without one. */
  describe(name: string): Promise<LockDescription> {
    return this.#describe.describe(name);
  }

  /** How many instances answer a PING within the instance timeout. */
  async reachableCount(): Promise<number> {
    const answers = await fanOut(this.instances, this.#parts.options.instanceTimeoutMs * 4, (i) => i.ping());
    return answers.filter((a) => a.ok).length;
  }

  async close(): Promise<void> {
    this.#parts.watches.closeAll();
    // Calls still out (the slowest instance of an early answer, a rollback,
    // a ticket withdrawal) land before the connections go. Each is bounded
    // by the timeout.
    await this.#parts.calls.settled();
    await Promise.allSettled(this.instances.map((i) => i.close()));
  }
}
