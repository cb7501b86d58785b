import { describe, expect, it } from "vitest";
import { LEASE_SECRET_BYTES, systemRandomness } from "../../src/redlock/randomness.ts";

describe("systemRandomness", () => {
  it("hands out 160-bit secrets, never the same bytes twice, across refills of its pool", () => {
    const secrets = Array.from({ length: 1000 }, () => systemRandomness.leaseSecret());
    for (const secret of secrets) expect(Buffer.from(secret, "base64url")).toHaveLength(LEASE_SECRET_BYTES);
    expect(new Set(secrets).size).toBe(secrets.length);
  });

  it("gives jitter in [0, 1)", () => {
    for (let i = 0; i < 100; i++) {
      const u = systemRandomness.unit();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
    }
  });
});
