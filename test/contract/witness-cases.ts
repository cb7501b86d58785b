import { expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import { lockKeyPattern } from "../../src/instances/restart-witnesses.ts";
import { acquiring, expectTtlNear, grantedFence, type SubjectFactory } from "./contract-subject.ts";

/** What restart detection reads from an instance: longestTtlMs, identify and connectionEpoch. */
export function witnessCases(make: SubjectFactory): void {
  it("longestTtlMs: 0 when no key matches the pattern, whatever else is stored", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(`${prefix}other:`, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    // The fencing counter is stored too, under a name the pattern does not match.
    expect(await instance.longestTtlMs(lockKeyPattern(prefix))).toBe(0);
  });

  it("longestTtlMs: the longest remaining TTL among the matching keys that are still live", async () => {
    const { instance, prefix, elapse } = await make();
    const short = lockKeys(prefix, "short");
    const long = lockKeys(prefix, "long");
    const brief = lockKeys(prefix, "brief");
    grantedFence(await instance.acquire(acquiring(short, "s1", { ttlMs: 3000 })));
    grantedFence(await instance.acquire(acquiring(long, "s2", { ttlMs: 8000 })));
    grantedFence(await instance.acquire(acquiring(brief, "s3", { ttlMs: 100 })));
    // Counters are kept 60 s, but they are not lock keys.
    expectTtlNear(await instance.longestTtlMs(lockKeyPattern(prefix)), 8000);
    expect(await instance.release(long.lock, "s2")).toBe(true);
    expectTtlNear(await instance.longestTtlMs(lockKeyPattern(prefix)), 3000);
    expect(await instance.release(short.lock, "s1")).toBe(true);
    await elapse(150);
    expect(await instance.longestTtlMs(lockKeyPattern(prefix))).toBe(0);
  });

  it("longestTtlMs: Infinity when a matching key has no expiry", async (context) => {
    const { instance, prefix, putWithoutExpiry } = await make();
    if (!putWithoutExpiry) return context.skip("this implementation holds no key without expiry");
    grantedFence(await instance.acquire(acquiring(lockKeys(prefix, "job"), "s1")));
    await putWithoutExpiry(lockKeys(prefix, "forever").lock, "s2");
    expect(await instance.longestTtlMs(lockKeyPattern(prefix))).toBe(Number.POSITIVE_INFINITY);
  });

  it("longestTtlMs: reads past one SCAN batch", async () => {
    const { instance, prefix } = await make();
    const items = Array.from({ length: 2500 }, (_, i) => ({
      lockKey: lockKeys(prefix, `n${i}`).lock,
      secret: `s${i}`,
      ttlMs: 3000,
    }));
    items[1777]!.ttlMs = 9000;
    expect((await instance.extend(items, true)).every(Boolean)).toBe(true);
    expectTtlNear(await instance.longestTtlMs(lockKeyPattern(prefix)), 9000);
  });

  it("longestTtlMs: glob characters in the prefix match only themselves", async () => {
    const { instance, prefix } = await make();
    grantedFence(await instance.acquire(acquiring(lockKeys(`${prefix}a*b?[c]\\:`, "job"), "s1", { ttlMs: 3000 })));
    grantedFence(await instance.acquire(acquiring(lockKeys(`${prefix}aXbYc\\:`, "job"), "s2", { ttlMs: 9000 })));
    expectTtlNear(await instance.longestTtlMs(lockKeyPattern(`${prefix}a*b?[c]\\:`)), 3000);
  });

  it("identify: the same run id on every call, and an uptime in ms that does not go back", async () => {
    const { instance } = await make();
    const first = await instance.identify();
    const second = await instance.identify();
    expect(first.runId ?? first.uptimeMs).toBeDefined();
    expect(second.runId).toBe(first.runId);
    if (first.uptimeMs !== undefined) {
      expect(first.uptimeMs).toBeGreaterThanOrEqual(0);
      expect(second.uptimeMs).toBeGreaterThanOrEqual(first.uptimeMs);
    }
  });

  it("connectionEpoch: unchanged while the connection holds; ping and waitUntilConnected answer", async () => {
    const { instance, prefix } = await make();
    await expect(instance.waitUntilConnected(1000)).resolves.toBeUndefined();
    const epoch = instance.connectionEpoch();
    expect(Number.isInteger(epoch)).toBe(true);
    await expect(instance.ping()).resolves.toBeUndefined();
    grantedFence(await instance.acquire(acquiring(lockKeys(prefix, "job"), "s1")));
    await instance.identify();
    expect(instance.connectionEpoch()).toBe(epoch);
  });
}
