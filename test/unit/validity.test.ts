import { describe, expect, it } from "vitest";
import { driftMs, isStillValid, leaseEndMs, validityMs } from "../../src/redlock/validity.ts";

describe("driftMs", () => {
  it.each([
    // ttl, 1% floored, + 2
    [0, 2],
    [1, 2],
    [99, 2], // 0.99 floors to 0
    [100, 3],
    [150, 3], // 1.5 floors to 1
    [199, 3],
    [200, 4],
    [1000, 12],
    [10_000, 102],
    [30_000, 302],
    [86_400_000, 864_002],
  ])("ttl %i ms -> drift %i ms", (ttl, drift) => {
    expect(driftMs(ttl)).toBe(drift);
  });

  it("equals integer 1% (floor(ttl/100)) + 2 for every ttl up to 100 s, free of float error", () => {
    for (let ttl = 0; ttl <= 100_000; ttl++) {
      const expected = (ttl - (ttl % 100)) / 100 + 2;
      if (driftMs(ttl) !== expected) expect.fail(`driftMs(${ttl}) = ${driftMs(ttl)}, expected ${expected}`);
    }
  });
});

describe("validityMs and leaseEndMs", () => {
  it("validity is ttl - elapsed - drift", () => {
    expect(validityMs(10_000, 0)).toBe(10_000 - 102);
    expect(validityMs(10_000, 250)).toBe(10_000 - 250 - 102);
    expect(validityMs(1000, 988)).toBe(0);
    expect(validityMs(1000, 1000)).toBe(-12);
  });

  it("lease end is start + ttl - elapsed - drift, on the monotonic clock", () => {
    expect(leaseEndMs(5000, 10_000, 0)).toBe(5000 + 10_000 - 102);
    expect(leaseEndMs(5000, 10_000, 40)).toBe(5000 + 10_000 - 40 - 102);
    expect(leaseEndMs(0, 100, 7)).toBe(100 - 7 - 3);
  });

  it("lease end never lies after the keys' earliest possible expiry (start + ttl)", () => {
    for (const ttl of [10, 100, 999, 10_000]) {
      for (const elapsed of [0, 1, 5, ttl / 2, ttl]) {
        expect(leaseEndMs(1234, ttl, elapsed)).toBeLessThan(1234 + ttl);
      }
    }
  });
});

describe("isStillValid", () => {
  // Valid iff the conservative end (start + ttl - elapsed - drift) lies after
  // the moment the answer arrived (start + elapsed): ttl - drift > 2 * elapsed.
  it("ttl 1000 (drift 12): valid up to elapsed < 494", () => {
    expect(isStillValid(0, 1000, 0)).toBe(true);
    expect(isStillValid(0, 1000, 493)).toBe(true);
    expect(isStillValid(0, 1000, 493.9)).toBe(true);
    expect(isStillValid(0, 1000, 494)).toBe(false);
    expect(isStillValid(0, 1000, 988)).toBe(false);
    expect(isStillValid(0, 1000, 5000)).toBe(false);
  });

  it("agrees with ttl - drift > 2 * elapsed over a grid, whatever the start", () => {
    for (const start of [0, 17.5, 1e9]) {
      for (const ttl of [10, 100, 250, 1000, 10_000]) {
        for (let elapsed = 0; elapsed <= ttl + 5; elapsed += Math.max(1, Math.floor(ttl / 50))) {
          const drift = Math.floor(ttl / 100) + 2;
          expect(isStillValid(start, ttl, elapsed), `start ${start} ttl ${ttl} elapsed ${elapsed}`).toBe(
            ttl - drift > 2 * elapsed,
          );
        }
      }
    }
  });

  it("a ttl no larger than the drift is never valid, even instantly", () => {
    expect(isStillValid(0, 2, 0)).toBe(false);
    expect(isStillValid(0, 3, 0)).toBe(true); // drift 2, validity 1 > 0
  });
});
