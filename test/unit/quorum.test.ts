import { describe, expect, it } from "vitest";
import { quorumOf } from "../../src/redlock/quorum.ts";

describe("quorumOf", () => {
  // floor(N/2) + 1, written out by hand for the cluster sizes that occur.
  const table: [number, number][] = [
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
    [6, 4],
    [7, 4],
  ];

  it.each(table)("N=%i needs %i votes", (n, expected) => {
    expect(quorumOf(n)).toBe(expected);
  });

  it.each([1, 2, 3, 4, 5, 6, 7])("N=%i: the smallest count such that any two such sets of instances overlap", (n) => {
    const q = quorumOf(n);
    // Two disjoint sets of q instances cannot exist: 2q > N ...
    expect(2 * q).toBeGreaterThan(n);
    // ... and q is minimal: with one vote fewer, two disjoint majorities fit.
    expect(2 * (q - 1)).toBeLessThanOrEqual(n);
    // A quorum is always reachable when every instance answers.
    expect(q).toBeLessThanOrEqual(n);
  });

  it("tolerates floor((N-1)/2) failed instances for N=1..7", () => {
    for (let n = 1; n <= 7; n++) expect(n - quorumOf(n)).toBe(Math.floor((n - 1) / 2));
  });
});
