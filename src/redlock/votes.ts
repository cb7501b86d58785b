import { chooseFencingToken, type FencingChoice } from "./fencing.ts";
import { quorumOf } from "./quorum.ts";
import { isStillValid, leaseEndMs } from "./validity.ts";

/** One instance's answer to an acquire attempt. */
export type AcquireVote =
  | { kind: "granted"; fence: bigint }
  | { kind: "held"; holderTtlMs: number }
  | { kind: "failed"; error: unknown };

/** What an acquire attempt amounts to once every instance answered or timed out. */
export type AcquireVerdict =
  | { kind: "granted"; fencing: FencingChoice; endMs: number }
  /** A majority answered but the lock is held elsewhere. */
  | { kind: "contended"; retryAfterMs: number | undefined }
  /** Fewer than a majority answered: an outage, not contention. */
  | { kind: "unavailable"; answered: number }
  /** A majority granted, but too slowly for the lease to be valid. */
  | { kind: "too-slow"; elapsedMs: number };

export interface AttemptTiming {
  startMs: number;
  elapsedMs: number;
  ttlMs: number;
}

export function judgeAcquire(votes: readonly AcquireVote[], timing: AttemptTiming): AcquireVerdict {
  const quorum = quorumOf(votes.length);
  const granted: bigint[] = [];
  const holderTtls: number[] = [];
  for (const vote of votes) {
    if (vote.kind === "granted") granted.push(vote.fence);
    else if (vote.kind === "held") holderTtls.push(vote.holderTtlMs);
  }
  if (granted.length >= quorum) {
    if (!isStillValid(timing.startMs, timing.ttlMs, timing.elapsedMs)) {
      return { kind: "too-slow", elapsedMs: timing.elapsedMs };
    }
    return {
      kind: "granted",
      fencing: chooseFencingToken(granted, quorum),
      endMs: leaseEndMs(timing.startMs, timing.ttlMs, timing.elapsedMs),
    };
  }
  const answered = granted.length + holderTtls.length;
  if (answered < quorum) return { kind: "unavailable", answered };
  return { kind: "contended", retryAfterMs: holderRetryAfterMs(holderTtls, quorum - granted.length) };
}

/**
 * A refusal that a second look in a few milliseconds may turn into a grant:
 * every instance answered, some had the lock free and no majority holds it.
 * That is contenders racing for a free lock, and each rolls back at once.
 * It needs an even N: with an odd N, when all answer, a majority holds or
 * grants. When an instance failed, the side that answered "held" may be a
 * lease that keeps its key until it is released or its TTL runs out. A
 * waiter learns of both anyway; polling meanwhile is a hot loop.
 */
export function isRacingSplit(votes: readonly AcquireVote[]): boolean {
  const quorum = quorumOf(votes.length);
  const granted = votes.filter((v) => v.kind === "granted").length;
  const held = votes.filter((v) => v.kind === "held").length;
  return granted > 0 && granted < quorum && held < quorum && granted + held === votes.length;
}

/**
 * When the lock will most likely be free: `needed` more instances must free
 * up (a quorum minus those that granted), so take the `needed`-th smallest
 * remaining TTL among those that reported a holder. Negative TTLs (key
 * without expiry, or gone by the time PTTL ran) say nothing.
 */
function holderRetryAfterMs(holderTtls: readonly number[], needed: number): number | undefined {
  const known = holderTtls.filter((ttl) => ttl >= 0).sort((a, b) => a - b);
  if (known.length === 0) return undefined;
  return known[Math.min(needed, known.length) - 1];
}

/** One instance's answer to an extend (or release) of a specific lease. */
export type LeaseVote = { kind: "matched" } | { kind: "missing" } | { kind: "failed"; error: unknown };

export type ExtendVerdict =
  | { kind: "extended"; endMs: number }
  /** A majority answered and too few still held the lease: it is lost. */
  | { kind: "lost" }
  /** Fewer than a majority answered: the lease's fate is unknown. */
  | { kind: "unavailable"; answered: number }
  | { kind: "too-slow"; elapsedMs: number };

export function judgeExtend(votes: readonly LeaseVote[], timing: AttemptTiming): ExtendVerdict {
  const quorum = quorumOf(votes.length);
  const matched = votes.filter((v) => v.kind === "matched").length;
  const answered = matched + votes.filter((v) => v.kind === "missing").length;
  if (matched >= quorum) {
    if (!isStillValid(timing.startMs, timing.ttlMs, timing.elapsedMs))
      return { kind: "too-slow", elapsedMs: timing.elapsedMs };
    return { kind: "extended", endMs: leaseEndMs(timing.startMs, timing.ttlMs, timing.elapsedMs) };
  }
  // Enough instances lack the lease that no majority can hold it any more.
  if (answered - matched > votes.length - quorum) return { kind: "lost" };
  return { kind: "unavailable", answered };
}

/** Released when a majority still held the lease and deleted it. */
export function judgeRelease(votes: readonly LeaseVote[]): boolean {
  return votes.filter((v) => v.kind === "matched").length >= quorumOf(votes.length);
}
