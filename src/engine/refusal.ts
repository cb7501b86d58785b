import type { SidecarOptions } from "../config/options.ts";
import { LockError } from "../errors/lock-error.ts";
import type { AcquireVerdict } from "../redlock/votes.ts";
import type { AcquireResult } from "./lease.ts";

/** An attempt that got no lease: held elsewhere, or too few instances for a majority. */
export type Refusal = Exclude<AcquireVerdict, { kind: "granted" }>;

/** The latest attempt on a name while callers queue for it here, and when it was judged (monotonic ms). */
export interface LatestVerdict {
  refusal: Refusal;
  atMs: number;
}

/**
 * What a caller behind this sidecar's queue for a name is told from the
 * head's attempts, or undefined when it must ask the instances itself.
 * An attempt judged since the caller queued stands: it is what the caller
 * waited behind, contention or outage. An older one counts only when it
 * saw the lock held, within `freshMs` (a head tries again at least that
 * often) and within the holder's TTL. Never an outage as contention.
 */
export function answerBehindQueue(
  latest: LatestVerdict | undefined,
  nowMs: number,
  queuedAtMs: number,
  freshMs: number,
): Refusal | undefined {
  if (latest === undefined) return undefined;
  const { refusal, atMs } = latest;
  if (refusal.kind !== "contended") return atMs >= queuedAtMs ? refusal : undefined;
  const retryAfterMs = refusal.retryAfterMs === undefined ? undefined : refusal.retryAfterMs - (nowMs - atMs);
  // The holder's key may be gone by now: only the instances can tell.
  if (retryAfterMs !== undefined && retryAfterMs < 0) return undefined;
  return atMs >= queuedAtMs || nowMs - atMs <= freshMs ? { kind: "contended", retryAfterMs } : undefined;
}

/**
 * The longest a queue's head goes between attempts: its longest pause (the
 * retry delay and jitter, at most a third of the ticket's TTL, as the
 * engine waits), then the attempt, bounded by the instance timeout.
 */
export function headIntervalMs(
  options: Pick<SidecarOptions, "retryDelayMs" | "retryJitterMs" | "waitTicketTtlMs" | "instanceTimeoutMs">,
): number {
  const { retryDelayMs, retryJitterMs, waitTicketTtlMs, instanceTimeoutMs } = options;
  return Math.min(retryDelayMs + retryJitterMs, waitTicketTtlMs / 3) + instanceTimeoutMs;
}

/** Contention is an answer (`acquired: false`); too few instances is an outage (`unavailable`). */
export function refusalResult(refusal: Refusal, instanceCount: number, quorum: number): AcquireResult {
  switch (refusal.kind) {
    case "contended":
      return { acquired: false, retryAfterMs: refusal.retryAfterMs };
    case "unavailable":
      throw new LockError(
        "unavailable",
        `only ${refusal.answered} of ${instanceCount} instances answered (need ${quorum})`,
      );
    case "too-slow":
      throw new LockError(
        "unavailable",
        `a majority granted the lock but took ${Math.round(refusal.elapsedMs)} ms, leaving no validity; rolled back`,
      );
  }
}
