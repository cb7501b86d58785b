import { expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import { acquiring, grantedFence, RETENTION_MS, type SubjectFactory } from "./contract-subject.ts";

/** raiseFence: lifting a name's fencing counter to a token seen elsewhere. */
export function fenceCases(make: SubjectFactory): void {
  it("raiseFence: lifts the counter to at least the token and returns it; the next grant goes on from there", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    expect(await instance.raiseFence(keys.fence, 50n, RETENTION_MS)).toBe(50n);
    expect(await instance.raiseFence(keys.fence, 40n, RETENTION_MS)).toBe(50n);
    expect(await instance.raiseFence(keys.fence, 50n, RETENTION_MS)).toBe(50n);
    expect(grantedFence(await instance.acquire(acquiring(keys, "s1")))).toBe(51n);
  });

  it("raiseFence: a counter past 2^53 and 2^64 is exact and compared as a number", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    expect(await instance.raiseFence(keys.fence, 2n ** 53n + 1n, RETENTION_MS)).toBe(2n ** 53n + 1n);
    expect(await instance.raiseFence(keys.fence, 2n ** 60n + 1n, RETENTION_MS)).toBe(2n ** 60n + 1n);
    expect(grantedFence(await instance.acquire(acquiring(keys, "s1")))).toBe(2n ** 60n + 2n);
    expect(await instance.raiseFence(keys.fence, 2n ** 64n, RETENTION_MS)).toBe(2n ** 64n);
    // Shorter is smaller, whatever the digits: 9 < 10^19 - 1 < 2^64.
    expect(await instance.raiseFence(keys.fence, 9n, RETENTION_MS)).toBe(2n ** 64n);
    expect(await instance.raiseFence(keys.fence, 10n ** 19n - 1n, RETENTION_MS)).toBe(2n ** 64n);
    expect(await instance.raiseFence(keys.fence, 10n ** 20n, RETENTION_MS)).toBe(10n ** 20n);
  });

  it("acquire: a counter at 0 counts as missing and starts again from the clock (INCR answers 1)", async () => {
    const { instance, prefix, wallMs } = await make();
    const keys = lockKeys(prefix, "job");
    expect(await instance.raiseFence(keys.fence, 0n, RETENTION_MS)).toBe(0n);
    const before = Math.floor(wallMs());
    expect(grantedFence(await instance.acquire(acquiring(keys, "s1")))).toBeGreaterThanOrEqual(
      BigInt(before - 5) * 1000n,
    );
  });

  it("acquire: a counter just below 2^53, at it and past it goes on by one, exactly", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    const release = async (secret: string): Promise<void> => {
      expect(await instance.release(keys.lock, secret)).toBe(true);
    };
    expect(await instance.raiseFence(keys.fence, 2n ** 53n - 2n, RETENTION_MS)).toBe(2n ** 53n - 2n);
    expect(grantedFence(await instance.acquire(acquiring(keys, "s1")))).toBe(2n ** 53n - 1n);
    await release("s1");
    expect(grantedFence(await instance.acquire(acquiring(keys, "s2")))).toBe(2n ** 53n);
    await release("s2");
    expect(grantedFence(await instance.acquire(acquiring(keys, "s3")))).toBe(2n ** 53n + 1n);
  });

  it("raiseFence: a raised counter is kept for the retention given, then a grant starts again from the clock", async () => {
    const { instance, prefix, elapse, wallMs } = await make();
    const keys = lockKeys(prefix, "job");
    expect(await instance.raiseFence(keys.fence, 50n, 200)).toBe(50n);
    await elapse(300);
    const before = Math.floor(wallMs());
    expect(grantedFence(await instance.acquire(acquiring(keys, "s1")))).toBeGreaterThanOrEqual(
      BigInt(before - 5) * 1000n,
    );
  });

  it("raiseFence: a counter already as high keeps its value and takes the retention given", async () => {
    const { instance, prefix, elapse } = await make();
    const kept = lockKeys(prefix, "kept");
    const shortened = lockKeys(prefix, "shortened");
    const first = grantedFence(await instance.acquire(acquiring(kept, "s1", { fenceRetentionMs: 200 })));
    // A raise below the counter renews its retention: it outlives the grant's 200 ms.
    expect(await instance.raiseFence(kept.fence, 1n, 5000)).toBe(first);
    expect(await instance.raiseFence(shortened.fence, 70n, RETENTION_MS)).toBe(70n);
    // And the retention given is the one kept, even when shorter than before.
    expect(await instance.raiseFence(shortened.fence, 60n, 200)).toBe(70n);
    await elapse(300);
    expect(await instance.release(kept.lock, "s1")).toBe(true);
    expect(grantedFence(await instance.acquire(acquiring(kept, "s2")))).toBe(first + 1n);
    expect(grantedFence(await instance.acquire(acquiring(shortened, "s3")))).toBeGreaterThan(71n);
  });
}
