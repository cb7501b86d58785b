import { describe, expect, it } from "vitest";
import { isRacingSplit, type AcquireVote } from "../../src/redlock/votes.ts";

const G: AcquireVote = { kind: "granted", fence: 1n };
const H: AcquireVote = { kind: "held", holderTtlMs: 5000 };
const F: AcquireVote = { kind: "failed", error: new Error("down") };

/** Every way `n` instances can answer. */
function* answers(n: number): Generator<AcquireVote[]> {
  if (n === 0) {
    yield [];
    return;
  }
  for (const rest of answers(n - 1)) for (const vote of [G, H, F]) yield [vote, ...rest];
}

describe("isRacingSplit", () => {
  it.each([3, 5])("N=%i: never, since with an odd N a majority holds or grants once all answer", (n) => {
    for (const votes of answers(n)) expect(isRacingSplit(votes), votes.map((v) => v.kind).join()).toBe(false);
  });

  it("N=4: all answered, two free and two held", () => {
    expect(isRacingSplit([G, G, H, H])).toBe(true);
    expect(isRacingSplit([H, G, H, G])).toBe(true);
  });

  it("N=4: not when a majority holds, a majority grants, or none had it free", () => {
    expect(isRacingSplit([G, H, H, H])).toBe(false);
    expect(isRacingSplit([G, G, G, H])).toBe(false);
    expect(isRacingSplit([H, H, H, H])).toBe(false);
  });

  it("not when an instance failed: the held side may be a lease that keeps its key until its TTL", () => {
    expect(isRacingSplit([H, G, F])).toBe(false);
    expect(isRacingSplit([G, G, H, F])).toBe(false);
    expect(isRacingSplit([G, H, F, F])).toBe(false);
  });
});
