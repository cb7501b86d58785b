import { describe, expect, it } from "vitest";
import { answerBehindQueue, headIntervalMs, refusalResult, type LatestVerdict } from "../../src/engine/refusal.ts";
import { expectLockError, thrownBy } from "./support/lock-error.ts";

const FRESH = 250;
const held = (atMs: number, retryAfterMs: number | undefined): LatestVerdict => ({
  refusal: { kind: "contended", retryAfterMs },
  atMs,
});
const outage = (atMs: number): LatestVerdict => ({ refusal: { kind: "unavailable", answered: 1 }, atMs });

describe("answerBehindQueue", () => {
  it("without an attempt to go by, the caller asks the instances", () => {
    expect(answerBehindQueue(undefined, 1000, 1000, FRESH)).toBeUndefined();
  });

  it("an outage found since the caller queued is its answer", () => {
    expect(answerBehindQueue(outage(900), 1000, 500, FRESH)).toEqual({ kind: "unavailable", answered: 1 });
    expect(answerBehindQueue({ refusal: { kind: "too-slow", elapsedMs: 600 }, atMs: 900 }, 1000, 500, FRESH)).toEqual({
      kind: "too-slow",
      elapsedMs: 600,
    });
  });

  it("an outage found before the caller came is no answer, however recent: the instances may be back", () => {
    expect(answerBehindQueue(outage(999), 1000, 1000, FRESH)).toBeUndefined();
  });

  it("a holder found since the caller queued is contention, with the holder's TTL left now", () => {
    expect(answerBehindQueue(held(600, 5000), 1000, 500, FRESH)).toEqual({ kind: "contended", retryAfterMs: 4600 });
    expect(answerBehindQueue(held(600, undefined), 1000, 500, FRESH)).toEqual({
      kind: "contended",
      retryAfterMs: undefined,
    });
  });

  it("a holder found before the caller came counts while recent: within freshMs", () => {
    expect(answerBehindQueue(held(1000 - FRESH, 5000), 1000, 1000, FRESH)).toEqual({
      kind: "contended",
      retryAfterMs: 5000 - FRESH,
    });
    expect(answerBehindQueue(held(999 - FRESH, 5000), 1000, 1000, FRESH)).toBeUndefined();
  });

  it("a holder whose TTL has run out since is no answer: its key may be gone", () => {
    expect(answerBehindQueue(held(900, 100), 1000, 500, FRESH)).toEqual({ kind: "contended", retryAfterMs: 0 });
    expect(answerBehindQueue(held(900, 99), 1000, 500, FRESH)).toBeUndefined();
  });
});

describe("headIntervalMs", () => {
  it("the longest pause between a head's attempts, then the attempt's own timeout", () => {
    const options = { retryDelayMs: 100, retryJitterMs: 100, waitTicketTtlMs: 1000, instanceTimeoutMs: 50 };
    expect(headIntervalMs(options)).toBe(250);
    // The pause is cut to a third of the ticket's TTL, so the ticket is refreshed in time.
    expect(headIntervalMs({ ...options, waitTicketTtlMs: 300 })).toBe(150);
  });
});

describe("refusalResult", () => {
  it("contention is acquired false with the holder's TTL", () => {
    expect(refusalResult({ kind: "contended", retryAfterMs: 70 }, 3, 2)).toEqual({ acquired: false, retryAfterMs: 70 });
  });

  it("too few instances, or a grant too slow to be valid, is unavailable", () => {
    const few = expectLockError(
      thrownBy(() => refusalResult({ kind: "unavailable", answered: 1 }, 3, 2)),
      "unavailable",
    );
    expect(few.message).toBe("only 1 of 3 instances answered (need 2)");
    const slow = expectLockError(
      thrownBy(() => refusalResult({ kind: "too-slow", elapsedMs: 600.4 }, 3, 2)),
      "unavailable",
    );
    expect(slow.message).toBe("a majority granted the lock but took 600 ms, leaving no validity; rolled back");
  });
});
