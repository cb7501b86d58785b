import { describe, expect, it } from "vitest";
import {
  judgeAcquire,
  judgeExtend,
  judgeRelease,
  type AcquireVote,
  type AttemptTiming,
  type LeaseVote,
} from "../../src/redlock/votes.ts";

// Quorums written out rather than computed with the code under test.
const QUORUM: Record<number, number> = { 3: 2, 5: 3 };
const TTL = 1000;
const DRIFT = 12; // floor(1000 / 100) + 2
// Valid iff ttl - drift > 2 * elapsed (the end, start + ttl - elapsed - drift, lies after start + elapsed).
const FAST: AttemptTiming = { startMs: 5000, elapsedMs: 10, ttlMs: TTL };
const BORDERLINE_OK: AttemptTiming = { startMs: 5000, elapsedMs: 493, ttlMs: TTL };
const BORDERLINE_SLOW: AttemptTiming = { startMs: 5000, elapsedMs: 494, ttlMs: TTL };
const PAST_TTL: AttemptTiming = { startMs: 5000, elapsedMs: 1500, ttlMs: TTL };

type Outcome = "failed" | "granted" | "held";

/**
 * Every way N instances can answer an acquire: each of the 2^N subsets of
 * failed instances, and for each subset every split of the others between
 * granted and held.
 */
function* acquireAnswers(n: number): Generator<Outcome[]> {
  for (let failedMask = 0; failedMask < 1 << n; failedMask++) {
    const others = [...Array(n).keys()].filter((i) => !(failedMask & (1 << i)));
    for (let grantedMask = 0; grantedMask < 1 << others.length; grantedMask++) {
      const outcome: Outcome[] = Array.from({ length: n }, () => "failed");
      others.forEach((instance, j) => (outcome[instance] = grantedMask & (1 << j) ? "granted" : "held"));
      yield outcome;
    }
  }
}

/** Fence patterns: all equal, all distinct, and two levels. */
const FENCES: Record<string, (i: number) => bigint> = {
  equal: () => 70n,
  distinct: (i) => 70n + BigInt(i),
  twoLevels: (i) => (i % 2 === 0 ? 71n : 70n),
};
const holderTtl = (i: number): number => 100 * (i + 1);

function acquireVotes(outcome: readonly Outcome[], fence: (i: number) => bigint): AcquireVote[] {
  return outcome.map((o, i): AcquireVote => {
    if (o === "granted") return { kind: "granted", fence: fence(i) };
    if (o === "held") return { kind: "held", holderTtlMs: holderTtl(i) };
    return { kind: "failed", error: new Error(`i${i} down`) };
  });
}

function count<T>(items: readonly T[], match: T): number {
  return items.filter((x) => x === match).length;
}

describe.each([3, 5])("judgeAcquire, N=%i", (n) => {
  const q = QUORUM[n]!;
  const all = [...acquireAnswers(n)];

  it(`enumerates all ${3 ** n} answer combinations (2^${n} failed subsets x splits)`, () => {
    expect(all).toHaveLength(3 ** n);
    expect(new Set(all.map((o) => o.join())).size).toBe(3 ** n);
  });

  it.each(Object.keys(FENCES))("verdict kind follows the counts (fast attempt, %s fences)", (pattern) => {
    const fence = FENCES[pattern]!;
    for (const outcome of all) {
      const granted = count(outcome, "granted");
      const answered = granted + count(outcome, "held");
      const verdict = judgeAcquire(acquireVotes(outcome, fence), FAST);
      const label = outcome.join(",");
      if (granted >= q) {
        const grantedFences = outcome.flatMap((o, i) => (o === "granted" ? [fence(i)] : []));
        // biome-ignore lint/complexity/useMathMinMax: fences are bigints, which Math.max does not take
        const max = grantedFences.reduce((a, b) => (b > a ? b : a));
        expect(verdict, label).toEqual({
          kind: "granted",
          fencing: { token: max, raiseNeeded: count(grantedFences, max) < q },
          endMs: FAST.startMs + TTL - FAST.elapsedMs - DRIFT,
        });
      } else if (answered < q) {
        expect(verdict, label).toEqual({ kind: "unavailable", answered });
      } else {
        expect(verdict.kind, label).toBe("contended");
      }
    }
  });

  it("a majority granting too slowly is too-slow; other verdicts do not depend on time", () => {
    for (const outcome of all) {
      const votes = acquireVotes(outcome, FENCES["equal"]!);
      const granted = count(outcome, "granted");
      const label = outcome.join(",");
      for (const slow of [BORDERLINE_SLOW, PAST_TTL]) {
        const verdict = judgeAcquire(votes, slow);
        if (granted >= q) expect(verdict, label).toEqual({ kind: "too-slow", elapsedMs: slow.elapsedMs });
        else expect(verdict, label).toEqual(judgeAcquire(votes, FAST));
      }
      const borderline = judgeAcquire(votes, BORDERLINE_OK);
      if (granted >= q) expect(borderline, label).toMatchObject({ kind: "granted", endMs: 5000 + TTL - 493 - DRIFT });
    }
  });

  it("retryAfterMs is a reported holder TTL, never earlier than the moment a majority could be free", () => {
    for (const outcome of all) {
      const verdict = judgeAcquire(acquireVotes(outcome, FENCES["equal"]!), FAST);
      if (verdict.kind !== "contended") continue;
      const label = outcome.join(",");
      const ttls = outcome.flatMap((o, i) => (o === "held" ? [holderTtl(i)] : []));
      expect(ttls, label).toContain(verdict.retryAfterMs);
      const at = verdict.retryAfterMs!;
      // Instances free by then: ours (rolled back), holders' keys expired, and
      // - optimistically - the failed ones.
      const free = count(outcome, "granted") + count(outcome, "failed") + ttls.filter((t) => t <= at).length;
      expect(free, label).toBeGreaterThanOrEqual(q);
    }
  });

  it("with no instance granting, retryAfterMs is when q of the known holders' keys are gone (all of them if fewer are known)", () => {
    // The failed instances cannot be counted on, so a majority needs q
    // instances whose holder key expired.
    for (const outcome of all) {
      if (count(outcome, "granted") > 0) continue;
      const verdict = judgeAcquire(acquireVotes(outcome, FENCES["equal"]!), FAST);
      if (verdict.kind !== "contended") continue;
      const ttls = outcome.flatMap((o, i) => (o === "held" ? [holderTtl(i)] : [])).sort((a, b) => a - b);
      expect(verdict.retryAfterMs, outcome.join(",")).toBe(ttls[Math.min(q, ttls.length) - 1]);
    }
  });
});

describe("judgeAcquire: retryAfterMs details", () => {
  const held = (holderTtlMs: number): AcquireVote => ({ kind: "held", holderTtlMs });
  const granted: AcquireVote = { kind: "granted", fence: 1n };
  const failed: AcquireVote = { kind: "failed", error: new Error("down") };

  it("all three held: the second smallest TTL, when two of three keys are gone", () => {
    expect(judgeAcquire([held(900), held(300), held(600)], FAST)).toEqual({ kind: "contended", retryAfterMs: 600 });
  });

  it("all five held: the third smallest TTL", () => {
    expect(judgeAcquire([held(50), held(40), held(30), held(20), held(10)], FAST)).toEqual({
      kind: "contended",
      retryAfterMs: 30,
    });
  });

  it("ignores negative TTLs (no expiry: -1; gone before PTTL ran: -2)", () => {
    expect(judgeAcquire([held(-1), held(300), held(100)], FAST)).toEqual({ kind: "contended", retryAfterMs: 300 });
    expect(judgeAcquire([held(-1), held(-2), held(100)], FAST)).toEqual({ kind: "contended", retryAfterMs: 100 });
  });

  it("is undefined when no holder reported a usable TTL", () => {
    expect(judgeAcquire([held(-1), held(-2), held(-1)], FAST)).toEqual({ kind: "contended", retryAfterMs: undefined });
    expect(judgeAcquire([held(-1), held(-1), failed], FAST)).toEqual({ kind: "contended", retryAfterMs: undefined });
  });

  it("a TTL of 0 (expiring now) is usable", () => {
    expect(judgeAcquire([held(0), held(0), granted], FAST)).toEqual({ kind: "contended", retryAfterMs: 0 });
  });

  // Regression: the retry hint waits for as many holder keys to expire as a
  // quorum still lacks (here one), not N - quorum + 1.
  it("with 2 of 5 granted, the lock can be free when the first of 3 holder keys expires", () => {
    const verdict = judgeAcquire([granted, granted, held(100), held(200), held(300)], FAST);
    expect(verdict).toEqual({ kind: "contended", retryAfterMs: 100 });
  });

  // Regression: for even N the hint must wait until a quorum can be free.
  it("N=4 all held: the lock can be free only when three of four holder keys are gone", () => {
    const verdict = judgeAcquire([held(100), held(200), held(300), held(400)], FAST);
    expect(verdict).toEqual({ kind: "contended", retryAfterMs: 300 });
  });
});

type LeaseOutcome = "failed" | "matched" | "missing";

function* leaseAnswers(n: number): Generator<LeaseOutcome[]> {
  for (let failedMask = 0; failedMask < 1 << n; failedMask++) {
    const others = [...Array(n).keys()].filter((i) => !(failedMask & (1 << i)));
    for (let matchedMask = 0; matchedMask < 1 << others.length; matchedMask++) {
      const outcome: LeaseOutcome[] = Array.from({ length: n }, () => "failed");
      others.forEach((instance, j) => (outcome[instance] = matchedMask & (1 << j) ? "matched" : "missing"));
      yield outcome;
    }
  }
}

function leaseVotes(outcome: readonly LeaseOutcome[]): LeaseVote[] {
  return outcome.map((o): LeaseVote => (o === "failed" ? { kind: "failed", error: new Error("down") } : { kind: o }));
}

describe.each([3, 5])("judgeExtend and judgeRelease, N=%i", (n) => {
  const q = QUORUM[n]!;
  const all = [...leaseAnswers(n)];

  it(`enumerates all ${3 ** n} answer combinations`, () => {
    expect(new Set(all.map((o) => o.join())).size).toBe(3 ** n);
  });

  it("extend: extended with a valid majority; lost when no majority can still hold it; else unavailable", () => {
    for (const outcome of all) {
      const matched = count(outcome, "matched");
      const failed = count(outcome, "failed");
      const answered = n - failed;
      const verdict = judgeExtend(leaseVotes(outcome), FAST);
      const label = outcome.join(",");
      if (matched >= q) {
        expect(verdict, label).toEqual({ kind: "extended", endMs: FAST.startMs + TTL - FAST.elapsedMs - DRIFT });
      } else if (matched + failed < q) {
        // Even if every failed instance still held it, no majority does.
        expect(verdict, label).toEqual({ kind: "lost" });
      } else {
        expect(verdict, label).toEqual({ kind: "unavailable", answered });
      }
    }
  });

  it("extend: a majority matching too slowly is too-slow; other verdicts do not depend on time", () => {
    for (const outcome of all) {
      const votes = leaseVotes(outcome);
      for (const slow of [BORDERLINE_SLOW, PAST_TTL]) {
        const verdict = judgeExtend(votes, slow);
        if (count(outcome, "matched") >= q) expect(verdict).toEqual({ kind: "too-slow", elapsedMs: slow.elapsedMs });
        else expect(verdict).toEqual(judgeExtend(votes, FAST));
      }
    }
  });

  it("release: true exactly when a majority still held the lease", () => {
    for (const outcome of all) {
      expect(judgeRelease(leaseVotes(outcome)), outcome.join(",")).toBe(count(outcome, "matched") >= q);
    }
  });
});
