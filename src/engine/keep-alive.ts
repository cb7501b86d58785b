import { LockError } from "../errors/lock-error.ts";
import { sleep } from "../util/abort.ts";
import type { Lease } from "./lease.ts";
import type { LockEngine } from "./lock-engine.ts";

/**
 * When to renew next: about a third of the TTL from now, rounded up to a
 * tick (at most 100 ms, a thirtieth of the TTL for short ones) shared by
 * every lease, so renewals due together go to the instances as one batch.
 */
export function renewalDueMs(nowMs: number, ttlMs: number): number {
  const tickMs = Math.min(100, Math.max(1, Math.floor(ttlMs / 30)));
  return Math.ceil((nowMs + ttlMs / 3) / tickMs) * tickMs;
}

export interface KeepAliveOptions {
  name: string;
  leaseId: string;
  ttlMs: number;
  /** Pause before retrying a renewal that a majority did not answer. */
  retryDelayMs: number;
  /**
   * A renewal that landed after the loss was reported: the keys are held
   * for another TTL. The caller releases them unless something else (another
   * stream) still keeps the lease.
   */
  onLateRenewal?: () => void;
}

/**
 * Renews a lease until `signal` aborts: at once, then about every third of
 * its TTL, reporting each renewal through `onRenewed`. Returns when the
 * signal aborts (the caller decides whether to release). Throws `not-held`
 * when the lease is lost, or when renewals could not be confirmed by a
 * majority before its validity ended: the owner must stop its work.
 */
export async function keepAlive(
  engine: LockEngine,
  options: KeepAliveOptions,
  signal: AbortSignal,
  onRenewed: (lease: Lease) => void,
): Promise<void> {
  const clock = engine.clock;
  let endMs = engine.leases.get(options.leaseId)?.endMs;
  // The lease's end as this sidecar knows it now, from its latest renewal
  // here, whoever made it (another stream may have renewed it since, for a
  // longer or a shorter TTL).
  const knownEndMs = (): number | undefined => (endMs === undefined ? undefined : (engine.leases.get(options.leaseId)?.endMs ?? endMs));
  let nextMs = clock.monotonicMs();
  while (!signal.aborted) {
    try {
      await sleep(nextMs - clock.monotonicMs(), signal);
    } catch {
      return;
    }
    try {
      const renewal = engine.extend(options.name, options.leaseId, options.ttlMs);
      const untilMs = knownEndMs();
      const lease = untilMs === undefined ? await renewal : await beforeEnd(renewal, untilMs, engine);
      if (lease === "expired") {
        // The owner must stop by the end it was last told: say so then, not
        // when the renewal's answers are in.
        renewal.then(() => options.onLateRenewal?.(), () => undefined);
        throw new LockError("not-held", `lock ${JSON.stringify(options.name)}: no majority confirmed a renewal before the lease expired`);
      }
      endMs = lease.endMs;
      if (signal.aborted) return;
      onRenewed(lease);
      nextMs = renewalDueMs(clock.monotonicMs(), options.ttlMs);
    } catch (error) {
      if (!(error instanceof LockError) || error.code !== "unavailable") throw error;
      // Not confirmed. Without a known validity (first renewal of a lease
      // granted elsewhere) the caller may retry; otherwise keep trying while
      // the lease is still valid, and declare it lost the moment it is not.
      const untilMs = knownEndMs();
      if (untilMs === undefined) throw error;
      const nowMs = clock.monotonicMs();
      if (nowMs >= untilMs) {
        throw new LockError("not-held", `lock ${JSON.stringify(options.name)}: no majority confirmed a renewal before the lease expired`, { cause: error });
      }
      nextMs = Math.min(nowMs + options.retryDelayMs, untilMs);
    }
  }
}

/** The renewal's outcome, or "expired" as soon as the monotonic clock reaches `endMs` first. */
async function beforeEnd(renewal: Promise<Lease>, endMs: number, engine: LockEngine): Promise<Lease | "expired"> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), Math.max(0, endMs - engine.clock.monotonicMs()));
  });
  try {
    return await Promise.race([renewal, expired]);
  } finally {
    clearTimeout(timer);
  }
}
