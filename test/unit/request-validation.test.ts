import { create } from "@bufbuild/protobuf";
import { DurationSchema, type Duration } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  checkLeaseId,
  checkName,
  checkOwner,
  checkTtlMs,
  checkWaitMs,
  type Limits,
} from "../../src/server/request-validation.ts";
import { expectLockError, thrownBy } from "./support/lock-error.ts";

const LIMITS: Limits = { defaultTtlMs: 10_000, minTtlMs: 100, maxTtlMs: 300_000, maxWaitMs: 60_000, maxNameBytes: 16 };

const duration = (seconds: bigint, nanos = 0): Duration => create(DurationSchema, { seconds, nanos });
const ms = (millis: number): Duration => duration(BigInt(Math.floor(millis / 1000)), (millis % 1000) * 1_000_000);

/** The invalid-argument message of what `fn` throws; it must start with the field. */
function problem(field: string, fn: () => unknown): string {
  const error = expectLockError(thrownBy(fn), "invalid-argument");
  expect(error.message.startsWith(`${field}: `), error.message).toBe(true);
  return error.message;
}

describe("checkName", () => {
  it("accepts names up to the byte limit, counting UTF-8 bytes", () => {
    expect(checkName("a".repeat(16), LIMITS)).toBe("a".repeat(16));
    expect(checkName("é".repeat(8), LIMITS)).toBe("é".repeat(8)); // 2 bytes each
    expect(checkName("🔒🔒🔒🔒", LIMITS)).toBe("🔒🔒🔒🔒"); // 4 bytes each
    expect(checkName("orders/42 x\u00a0y", LIMITS)).toBe("orders/42 x\u00a0y"); // space and NBSP are not control characters
  });

  it("empty", () => {
    expect(problem("name", () => checkName("", LIMITS))).toBe("name: must not be empty");
  });

  it.each([
    ["a".repeat(17), 17],
    ["é".repeat(9), 18],
    ["🔒🔒🔒🔒a", 17],
  ])("too long (%j): names the byte count, the limit and LOCK_MAX_NAME_BYTES", (name, bytes) => {
    const message = problem("name", () => checkName(name, LIMITS));
    expect(message).toContain(`${bytes} bytes`);
    expect(message).toContain("maximum 16");
    expect(message).toContain("LOCK_MAX_NAME_BYTES");
  });

  it.each(["a\u0000b", "line\n", "\t", "\u001f", "del\u007f", "\u0085", "\u009f", "bad\ufffdutf8"])(
    "control character or U+FFFD in %j",
    (name) => {
      expect(problem("name", () => checkName(name, LIMITS))).toContain("control characters");
    },
  );
});

describe("checkTtlMs", () => {
  it("unset: the default", () => {
    expect(checkTtlMs(undefined, LIMITS)).toBe(10_000);
  });

  it("within bounds, bounds included", () => {
    expect(checkTtlMs(ms(100), LIMITS)).toBe(100);
    expect(checkTtlMs(ms(2500), LIMITS)).toBe(2500);
    expect(checkTtlMs(duration(300n), LIMITS)).toBe(300_000);
  });

  it("rounds a sub-millisecond part up", () => {
    expect(checkTtlMs(duration(0n, 99_000_001), LIMITS)).toBe(100);
    expect(checkTtlMs(duration(1n, 1), LIMITS)).toBe(1001);
  });

  it("below the minimum names the value, the bound and LOCK_MIN_TTL", () => {
    expect(problem("ttl", () => checkTtlMs(ms(99), LIMITS))).toBe(
      "ttl: 99ms is below the minimum 100ms (LOCK_MIN_TTL)",
    );
    expect(problem("ttl", () => checkTtlMs(duration(0n), LIMITS))).toContain("below the minimum 100ms");
  });

  it("above the maximum names the value, the bound and LOCK_MAX_TTL", () => {
    expect(problem("ttl", () => checkTtlMs(duration(301n), LIMITS))).toBe(
      "ttl: 301s is above the maximum 5m (LOCK_MAX_TTL)",
    );
    expect(problem("ttl", () => checkTtlMs(duration(300n, 1), LIMITS))).toContain("LOCK_MAX_TTL");
  });

  it("huge durations are above the maximum, not wrapped or lost to float error", () => {
    for (const seconds of [31_536_001n, 2n ** 53n + 1n, 2n ** 63n - 1n]) {
      expect(problem("ttl", () => checkTtlMs(duration(seconds), LIMITS))).toContain("above the maximum");
    }
  });

  it.each([
    [-1n, 0],
    [0n, -1],
    [-5n, -5],
  ])("negative (%s s, %i ns)", (seconds, nanos) => {
    expect(problem("ttl", () => checkTtlMs(duration(seconds, nanos), LIMITS))).toContain("must not be negative");
  });

  it.each([1_000_000_000, -1_000_000_000])("nanos %i out of range", (nanos) => {
    expect(problem("ttl", () => checkTtlMs(duration(1n, nanos), LIMITS))).toContain("nanos");
  });
});

describe("checkWaitMs", () => {
  it("unset: no wait", () => {
    expect(checkWaitMs(undefined, LIMITS)).toBe(0);
  });

  it("zero and the maximum are allowed", () => {
    expect(checkWaitMs(duration(0n), LIMITS)).toBe(0);
    expect(checkWaitMs(duration(60n), LIMITS)).toBe(60_000);
  });

  it("above the maximum names the bound and LOCK_MAX_WAIT", () => {
    expect(problem("wait", () => checkWaitMs(duration(60n, 1_000_000), LIMITS))).toBe(
      "wait: 60001ms is above the maximum 1m (LOCK_MAX_WAIT)",
    );
  });

  it("negative", () => {
    expect(problem("wait", () => checkWaitMs(duration(-1n), LIMITS))).toContain("must not be negative");
  });
});

describe("checkLeaseId", () => {
  it("parses a well-formed id; anything else is malformed", () => {
    const secret = "A".repeat(128);
    expect(checkLeaseId(`${secret}.18446744073709551615`)).toEqual({
      text: `${secret}.18446744073709551615`,
      secret,
      fencingToken: 18446744073709551615n,
    });
    expect(problem("lease_id", () => checkLeaseId("x".repeat(256)))).toContain("malformed");
  });

  it("empty", () => {
    expect(problem("lease_id", () => checkLeaseId(""))).toContain("must not be empty");
  });

  it("over 256 bytes names the bound", () => {
    expect(problem("lease_id", () => checkLeaseId("x".repeat(257)))).toContain("256 bytes");
    expect(problem("lease_id", () => checkLeaseId("é".repeat(129)))).toContain("256 bytes"); // 258 bytes
  });
});

describe("checkOwner", () => {
  it("empty and up to 256 bytes are fine", () => {
    expect(checkOwner("")).toBe("");
    expect(checkOwner("w".repeat(256))).toBe("w".repeat(256));
  });

  it("over 256 bytes names the bound", () => {
    expect(problem("owner", () => checkOwner("w".repeat(257)))).toContain("256 bytes");
  });

  it.each(["host\n", "\u0000", "\u009b"])("control character in %j", (owner) => {
    expect(problem("owner", () => checkOwner(owner))).toContain("control characters");
  });
});
