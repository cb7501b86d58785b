import { LockError } from "../errors/lock-error.ts";
import type { LockInstance } from "../instances/lock-instance.ts";
import { systemClock, type Clock } from "../redlock/clock.ts";
import { raiseConfirmed } from "../redlock/fencing.ts";
import { quorumOf } from "../redlock/quorum.ts";
import { systemRandomness, type Randomness } from "../redlock/randomness.ts";
import { isStillValid } from "../redlock/validity.ts";
import { judgeAcquire, judgeExtend, judgeRelease, type AcquireVerdict, type AcquireVote, type LeaseVote } from "../redlock/votes.ts";
import { sleep, throwIfAborted } from "../util/abort.ts";
import { fanOut, type Settled } from "./fan-out.ts";
import { lockKeys } from "./keys.ts";
import type { AcquireResult, Lease } from "./lease.ts";
import { formatLeaseId, parseLeaseId } from "./lease-id.ts";
import { LeaseRegistry } from "./lease-registry.ts";

export interface EngineOptions {
  keyPrefix: string;
  /** Bound on each instance call. Small against TTLs (the spec: 5-50 ms for 10 s). */
  instanceTimeoutMs: number;
  /** Pause between attempts while waiting: retryDelayMs + [0, retryJitterMs). */
  retryDelayMs: number;
  retryJitterMs: number;
  /** How long an idle name's fencing counter is kept on each instance. */
  fenceRetentionMs: number;
}

export interface EngineDeps {
  clock?: Clock;
  randomness?: Randomness;
}

/**
 * Redlock over N independent instances: acquire, extend and release leases.
 * Knows nothing of gRPC: it throws LockError and honours AbortSignals.
 */
export class LockEngine {
  readonly instances: readonly LockInstance[];
  readonly quorum: number;
  readonly leases = new LeaseRegistry();
  readonly #options: EngineOptions;
  readonly #clock: Clock;
  readonly #random: Randomness;

  constructor(instances: readonly LockInstance[], options: EngineOptions, deps: EngineDeps = {}) {
    if (instances.length === 0) throw new RangeError("the engine needs at least one instance");
    this.instances = instances;
    this.quorum = quorumOf(instances.length);
    this.#options = options;
    this.#clock = deps.clock ?? systemClock;
    this.#random = deps.randomness ?? systemRandomness;
  }

  get clock(): Clock {
    return this.#clock;
  }

  /**
   * Tries to take `name`, retrying with jitter while it is held elsewhere
   * until `waitMs` has passed. Held for the whole wait: `acquired: false`.
   * Fewer than a majority answering on the last attempt: `unavailable`.
   * An aborted signal rolls back the attempt in flight and throws its reason.
   */
  async acquire(name: string, ttlMs: number, waitMs: number, signal?: AbortSignal): Promise<AcquireResult> {
    const waitEndMs = this.#clock.monotonicMs() + waitMs;
    for (;;) {
      throwIfAborted(signal);
      const verdict = await this.#attempt(name, ttlMs, signal);
      if (verdict.kind === "granted") return { acquired: true, lease: verdict.lease };
      const remainingMs = waitEndMs - this.#clock.monotonicMs();
      if (remainingMs <= 0) return this.#giveUp(verdict);
      await sleep(Math.min(this.#retryDelayMs(verdict), remainingMs), signal);
    }
  }

  /** Renews a held lease for `ttlMs` from now; `not-held` when it is gone. */
  async extend(name: string, leaseId: string, ttlMs: number, signal?: AbortSignal): Promise<Lease> {
    const { secret, fencingToken } = parseLeaseId(leaseId);
    const known = this.leases.get(leaseId);
    const keys = lockKeys(this.#options.keyPrefix, name);
    throwIfAborted(signal);
    if (known && (known.name !== name || known.endMs <= this.#clock.monotonicMs())) {
      // Past its conservative end the lease is lost, whatever the instances
      // still say: renewing it now could overlap a new holder's lease.
      await this.#cleanUp(name, leaseId, secret);
      throw notHeld(name);
    }
    const startMs = this.#clock.monotonicMs();
    const votes = toLeaseVotes(await fanOut(this.instances, this.#options.instanceTimeoutMs, (i) => i.extend(keys.lock, secret, ttlMs)));
    const verdict = judgeExtend(votes, { startMs, elapsedMs: this.#clock.monotonicMs() - startMs, ttlMs });
    switch (verdict.kind) {
      case "extended": {
        const lease: Lease = { name, leaseId, fencingToken, ttlMs, endMs: verdict.endMs };
        this.leases.put(lease, this.#clock.monotonicMs());
        return lease;
      }
      case "lost":
        await this.#cleanUp(name, leaseId, secret);
        throw notHeld(name);
      case "unavailable":
        throw new LockError(
          "unavailable",
          `lock ${JSON.stringify(name)}: only ${verdict.answered} of ${this.instances.length} instances answered (need ${this.quorum}); the lease was not renewed`,
        );
      case "too-slow":
        throw new LockError(
          "unavailable",
          `lock ${JSON.stringify(name)}: instances took ${Math.round(verdict.elapsedMs)} ms to renew, leaving no validity; the lease was not renewed`,
        );
    }
  }

  /**
   * Deletes the lease wherever it is still held. True when a majority still
   * held it; false when it was no longer held. Unavailable when fewer than a
   * majority answered (the lease may linger on the others until its TTL).
   */
  async release(name: string, leaseId: string): Promise<boolean> {
    const { secret } = parseLeaseId(leaseId);
    const keys = lockKeys(this.#options.keyPrefix, name);
    const votes = toLeaseVotes(await fanOut(this.instances, this.#options.instanceTimeoutMs, (i) => i.release(keys.lock, secret)));
    const known = this.leases.get(leaseId);
    if (known?.name === name) this.leases.delete(leaseId);
    if (judgeRelease(votes)) return true;
    const answered = votes.filter((v) => v.kind !== "failed").length;
    if (answered >= this.quorum) return false;
    throw new LockError(
      "unavailable",
      `lock ${JSON.stringify(name)}: only ${answered} of ${this.instances.length} instances answered the release (need ${this.quorum}); it expires at its TTL elsewhere`,
    );
  }

  /** Releases every lease this sidecar still holds (shutdown). Returns how many. */
  async releaseAll(): Promise<number> {
    const held = this.leases.valid(this.#clock.monotonicMs());
    const results = await Promise.allSettled(held.map((lease) => this.release(lease.name, lease.leaseId)));
    return results.filter((r) => r.status === "fulfilled" && r.value).length;
  }

  /** How many instances answer a PING within the instance timeout. */
  async reachableCount(): Promise<number> {
    const answers = await fanOut(this.instances, this.#options.instanceTimeoutMs * 4, (i) => i.ping());
    return answers.filter((a) => a.ok).length;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.instances.map((i) => i.close()));
  }

  /** One Redlock round; every outcome but a grant is rolled back on all instances. */
  async #attempt(name: string, ttlMs: number, signal: AbortSignal | undefined): Promise<Attempt> {
    const secret = this.#random.leaseSecret();
    const keys = lockKeys(this.#options.keyPrefix, name);
    const { instanceTimeoutMs, fenceRetentionMs } = this.#options;
    const startMs = this.#clock.monotonicMs();
    // The fan-out is not abandoned on abort: it is bounded by the instance
    // timeout, and waiting for it means the rollback below follows every SET.
    const replies = await fanOut(this.instances, instanceTimeoutMs, (i) => i.acquire(keys, secret, ttlMs, fenceRetentionMs));
    let verdict: AcquireVerdict = judgeAcquire(replies.map(toAcquireVote), {
      startMs,
      elapsedMs: this.#clock.monotonicMs() - startMs,
      ttlMs,
    });
    if (verdict.kind === "granted" && verdict.fencing.raiseNeeded && !signal?.aborted) {
      const { token } = verdict.fencing;
      const raised = await fanOut(this.instances, instanceTimeoutMs, (i) => i.raiseFence(keys.fence, token, fenceRetentionMs));
      const confirmed = raised.flatMap((r) => (r.ok ? [r.value] : []));
      const elapsedMs = this.#clock.monotonicMs() - startMs;
      if (!raiseConfirmed(confirmed, token, this.quorum)) verdict = { kind: "unavailable", answered: confirmed.length };
      else if (!isStillValid(startMs, ttlMs, elapsedMs)) verdict = { kind: "too-slow", elapsedMs };
    }
    if (verdict.kind !== "granted" || signal?.aborted) {
      await this.#rollBack(keys.lock, secret);
      throwIfAborted(signal);
      return verdict.kind === "granted" ? { kind: "unavailable", answered: 0 } : verdict;
    }
    const leaseId = formatLeaseId({ secret, fencingToken: verdict.fencing.token });
    const lease: Lease = { name, leaseId, fencingToken: verdict.fencing.token, ttlMs, endMs: verdict.endMs };
    this.leases.put(lease, this.#clock.monotonicMs());
    return { kind: "granted", lease };
  }

  /** Unlocks every instance, also those that seemed to fail: their SET may have landed. */
  async #rollBack(lockKey: string, secret: string): Promise<void> {
    await fanOut(this.instances, this.#options.instanceTimeoutMs, (i) => i.release(lockKey, secret));
  }

  async #cleanUp(name: string, leaseId: string, secret: string): Promise<void> {
    this.leases.delete(leaseId);
    await this.#rollBack(lockKeys(this.#options.keyPrefix, name).lock, secret);
  }

  #retryDelayMs(verdict: Exclude<Attempt, { kind: "granted" }>): number {
    const { retryDelayMs, retryJitterMs } = this.#options;
    const delay = retryDelayMs + this.#random.unit() * retryJitterMs;
    // No point sleeping past the moment the holder's lease runs out.
    if (verdict.kind === "contended" && verdict.retryAfterMs !== undefined) return Math.min(delay, verdict.retryAfterMs + 1);
    return delay;
  }

  #giveUp(verdict: Exclude<Attempt, { kind: "granted" }>): AcquireResult {
    switch (verdict.kind) {
      case "contended":
        return { acquired: false, retryAfterMs: verdict.retryAfterMs };
      case "unavailable":
        throw new LockError(
          "unavailable",
          `only ${verdict.answered} of ${this.instances.length} instances answered (need ${this.quorum})`,
        );
      case "too-slow":
        throw new LockError(
          "unavailable",
          `a majority granted the lock but took ${Math.round(verdict.elapsedMs)} ms, leaving no validity; rolled back`,
        );
    }
  }
}

type Attempt = { kind: "granted"; lease: Lease } | Exclude<AcquireVerdict, { kind: "granted" }>;

function toAcquireVote(reply: Settled<Awaited<ReturnType<LockInstance["acquire"]>>>): AcquireVote {
  if (!reply.ok) return { kind: "failed", error: reply.error };
  return reply.value.granted ? { kind: "granted", fence: reply.value.fence } : { kind: "held", holderTtlMs: reply.value.holderTtlMs };
}

function toLeaseVotes(replies: readonly Settled<boolean>[]): LeaseVote[] {
  return replies.map((r) => (!r.ok ? { kind: "failed", error: r.error } : r.value ? { kind: "matched" } : { kind: "missing" }));
}

function notHeld(name: string): LockError {
  return new LockError("not-held", `lock ${JSON.stringify(name)}: the lease is no longer held (expired, released or taken over)`);
}
