import { describe, expect, it } from "vitest";
import { chooseFencingToken, raiseConfirmed } from "../../src/redlock/fencing.ts";

describe("chooseFencingToken", () => {
  it("takes the maximum counter", () => {
    expect(chooseFencingToken([3n, 9n, 4n], 2).token).toBe(9n);
    expect(chooseFencingToken([9n, 3n], 2).token).toBe(9n);
    expect(chooseFencingToken([42n], 1).token).toBe(42n);
  });

  it("needs no raise when at least a quorum of counters equal the maximum", () => {
    expect(chooseFencingToken([7n, 7n], 2)).toEqual({ token: 7n, raiseNeeded: false });
    expect(chooseFencingToken([7n, 7n, 7n], 2)).toEqual({ token: 7n, raiseNeeded: false });
    expect(chooseFencingToken([7n, 5n, 7n], 2)).toEqual({ token: 7n, raiseNeeded: false });
    expect(chooseFencingToken([7n, 5n, 7n, 7n, 6n], 3)).toEqual({ token: 7n, raiseNeeded: false });
  });

  it("needs a raise when fewer than a quorum hold the maximum", () => {
    expect(chooseFencingToken([7n, 6n], 2)).toEqual({ token: 7n, raiseNeeded: true });
    expect(chooseFencingToken([6n, 7n, 6n], 2)).toEqual({ token: 7n, raiseNeeded: true });
    // Two at the maximum is not enough when the quorum (of 5) is 3.
    expect(chooseFencingToken([7n, 7n, 6n], 3)).toEqual({ token: 7n, raiseNeeded: true });
  });

  it("compares as integers beyond 2^53 and 2^64", () => {
    const big = 2n ** 64n + 5n;
    expect(chooseFencingToken([big - 1n, big, 2n ** 53n + 1n], 2)).toEqual({ token: big, raiseNeeded: true });
    expect(chooseFencingToken([2n ** 53n + 1n, 2n ** 53n], 1)).toEqual({ token: 2n ** 53n + 1n, raiseNeeded: false });
  });

  it("throws on no counters", () => {
    expect(() => chooseFencingToken([], 1)).toThrow(RangeError);
  });

  it("matches an independent count over every counter list of length 1..5 from {1,2,3}", () => {
    const values = [1n, 2n, 3n];
    for (let length = 1; length <= 5; length++) {
      for (let code = 0; code < 3 ** length; code++) {
        const counters: bigint[] = [];
        for (let i = 0, c = code; i < length; i++, c = Math.floor(c / 3)) counters.push(values[c % 3]!);
        const max = [...counters].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))[0]!;
        const atMax = counters.reduce((n, c) => n + (c === max ? 1 : 0), 0);
        for (let quorum = 1; quorum <= length; quorum++) {
          expect(chooseFencingToken(counters, quorum), `${counters.join(",")} q=${quorum}`).toEqual({
            token: max,
            raiseNeeded: atMax < quorum,
          });
        }
      }
    }
  });
});

describe("raiseConfirmed", () => {
  it("counts counters at or above the token", () => {
    expect(raiseConfirmed([10n, 10n, 3n], 10n, 2)).toBe(true);
    expect(raiseConfirmed([11n, 10n], 10n, 2)).toBe(true);
    expect(raiseConfirmed([10n, 9n, 3n], 10n, 2)).toBe(false);
    expect(raiseConfirmed([10n, 10n], 10n, 3)).toBe(false);
  });

  it("is false with no answers", () => {
    expect(raiseConfirmed([], 1n, 1)).toBe(false);
  });

  it("a quorum of exactly the token suffices; one below does not", () => {
    expect(raiseConfirmed([5n, 5n, 5n, 4n, 4n], 5n, 3)).toBe(true);
    expect(raiseConfirmed([5n, 5n, 4n, 4n, 4n], 5n, 3)).toBe(false);
  });
});
