import { describe, expect, it } from "vitest";
import { LeaseKeepers } from "../../src/server/lease-keepers.ts";

const LEASE = `${"s".repeat(27)}.42`;

describe("LeaseKeepers", () => {
  it("only the last stream to leave may release; leaving twice counts once", () => {
    const keepers = new LeaseKeepers();
    const first = keepers.join("job", LEASE);
    const second = keepers.join("job", `${"s".repeat(27)}.7`); // same secret, other token part
    expect(keepers.kept("job", LEASE)).toBe(true);
    expect(first()).toBe(false);
    expect(first()).toBe(false);
    expect(keepers.kept("job", LEASE)).toBe(true);
    expect(second()).toBe(true);
    expect(keepers.kept("job", LEASE)).toBe(false);
  });

  it("counts per lock name", () => {
    const keepers = new LeaseKeepers();
    const a = keepers.join("a", LEASE);
    keepers.join("b", LEASE);
    expect(a()).toBe(true);
    expect(keepers.kept("a", LEASE)).toBe(false);
    expect(keepers.kept("b", LEASE)).toBe(true);
  });
});
