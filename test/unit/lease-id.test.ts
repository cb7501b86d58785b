import { describe, expect, it } from "vitest";
import { formatLeaseId, parseLeaseId } from "../../src/engine/lease-id.ts";
import { expectLockError, thrownBy } from "./support/lock-error.ts";

const SECRET = "AbCdEfGh_-012345"; // 16 base64url characters
const MAX_UINT64 = 18_446_744_073_709_551_615n;

describe("formatLeaseId / parseLeaseId", () => {
  it("formats as <secret>.<token>", () => {
    expect(formatLeaseId({ secret: SECRET, fencingToken: 42n })).toBe(`${SECRET}.42`);
  });

  it.each([0n, 1n, 1_700_000_000_000_000n, 2n ** 53n + 1n, MAX_UINT64])("round-trips token %s exactly", (token) => {
    const id = formatLeaseId({ secret: SECRET, fencingToken: token });
    expect(parseLeaseId(id)).toEqual({ text: id, secret: SECRET, fencingToken: token });
  });

  it("accepts secrets of 16 to 128 base64url characters", () => {
    expect(parseLeaseId(`${"a".repeat(16)}.1`).secret).toBe("a".repeat(16));
    expect(parseLeaseId(`${"Z".repeat(128)}.1`).secret).toBe("Z".repeat(128));
    // What systemRandomness produces: 20 bytes in base64url, 27 characters.
    expect(parseLeaseId(`${Buffer.alloc(20, 0xfb).toString("base64url")}.7`).fencingToken).toBe(7n);
  });

  it("reads a token with leading zeros as its number", () => {
    expect(parseLeaseId(`${SECRET}.007`).fencingToken).toBe(7n);
  });

  it.each([
    ["empty", ""],
    ["no token", SECRET],
    ["empty token", `${SECRET}.`],
    ["empty secret", ".5"],
    ["secret of 15", `${"a".repeat(15)}.5`],
    ["secret of 129", `${"a".repeat(129)}.5`],
    ["'+' in secret (base64, not base64url)", `${"a".repeat(15)}+.5`],
    ["'/' in secret", `${"a".repeat(15)}/.5`],
    ["padding '='", `${"a".repeat(15)}=.5`],
    ["two dots", `${SECRET}.5.5`],
    ["negative token", `${SECRET}.-5`],
    ["token with sign", `${SECRET}.+5`],
    ["hex token", `${SECRET}.0x10`],
    ["21-digit token", `${SECRET}.${"1".repeat(21)}`],
    ["token 2^64", `${SECRET}.${MAX_UINT64 + 1n}`],
    ["20 nines", `${SECRET}.${"9".repeat(20)}`],
    ["surrounding space", ` ${SECRET}.5`],
    ["trailing newline", `${SECRET}.5\n`],
  ])("rejects %s as invalid-argument naming lease_id", (_label, id) => {
    const error = expectLockError(
      thrownBy(() => parseLeaseId(id)),
      "invalid-argument",
    );
    expect(error.message).toMatch(/^lease_id: /);
  });
});
