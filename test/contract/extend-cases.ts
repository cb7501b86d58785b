import { expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import { acquiring, expectTtlNear, grantedFence, holderTtl, type SubjectFactory } from "./contract-subject.ts";

/** extend: renewals one by one and in batches, and adopting keys an instance forgot. */
export function extendCases(make: SubjectFactory): void {
  it("extend: only the holder's secret renews, and the new TTL counts from now", async () => {
    const { instance, prefix, elapse } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 1000 })));
    expect(await instance.extend([{ lockKey: keys.lock, secret: "other", ttlMs: 5000 }])).toEqual([false]);
    expectTtlNear(await holderTtl(instance, keys), 1000);
    await elapse(300);
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 5000 }])).toEqual([true]);
    expectTtlNear(await holderTtl(instance, keys), 5000);
  });

  it("extend: a renewal never shortens a key's TTL", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 8000 })));
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 1000 }])).toEqual([true]);
    expectTtlNear(await holderTtl(instance, keys), 8000);
    // Adopting a key the secret already holds is a renewal too.
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 1000 }], true)).toEqual([true]);
    expectTtlNear(await holderTtl(instance, keys), 8000);
  });

  it("extend: a batch renewing one key twice keeps the longer, in either order", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 1000 })));
    const renew = (ttlMs: number) => ({ lockKey: keys.lock, secret: "s1", ttlMs });
    expect(await instance.extend([renew(8000), renew(3000)])).toEqual([true, true]);
    expectTtlNear(await holderTtl(instance, keys), 8000);
    expect(await instance.extend([renew(3000), renew(12_000)])).toEqual([true, true]);
    expectTtlNear(await holderTtl(instance, keys), 12_000);
  });

  it("extend: one call renews many keys and answers for each", async () => {
    const { instance, prefix } = await make();
    const job = lockKeys(prefix, "job");
    const other = lockKeys(prefix, "other");
    grantedFence(await instance.acquire(acquiring(job, "s1", { ttlMs: 1000 })));
    grantedFence(await instance.acquire(acquiring(other, "s2", { ttlMs: 1000 })));
    const answers = await instance.extend([
      { lockKey: job.lock, secret: "s1", ttlMs: 3000 },
      { lockKey: other.lock, secret: "wrong", ttlMs: 3000 },
      { lockKey: lockKeys(prefix, "missing").lock, secret: "s3", ttlMs: 3000 },
      { lockKey: other.lock, secret: "s2", ttlMs: 4000 },
    ]);
    expect(answers).toEqual([true, false, false, true]);
    expectTtlNear(await holderTtl(instance, job), 3000);
    expectTtlNear(await holderTtl(instance, other), 4000);
    grantedFence(await instance.acquire(acquiring(lockKeys(prefix, "missing"), "s4")));
  });

  it("extend: an empty batch answers an empty list", async () => {
    const { instance } = await make();
    expect(await instance.extend([])).toEqual([]);
    expect(await instance.extend([], true)).toEqual([]);
  });

  it("extend: a key whose TTL ran out, or that was released, is not renewed", async () => {
    const { instance, prefix, elapse } = await make();
    const expired = lockKeys(prefix, "expired");
    const released = lockKeys(prefix, "released");
    grantedFence(await instance.acquire(acquiring(expired, "s1", { ttlMs: 100 })));
    grantedFence(await instance.acquire(acquiring(released, "s2")));
    expect(await instance.release(released.lock, "s2")).toBe(true);
    await elapse(150);
    const renew = [
      { lockKey: expired.lock, secret: "s1", ttlMs: 5000 },
      { lockKey: released.lock, secret: "s2", ttlMs: 5000 },
    ];
    expect(await instance.extend(renew)).toEqual([false, false]);
    grantedFence(await instance.acquire(acquiring(expired, "s3")));
    grantedFence(await instance.acquire(acquiring(released, "s4")));
  });

  it("extend with adopt: a missing key is created with the TTL; another holder's key is never taken", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 3000 }], true)).toEqual([true]);
    expectTtlNear(await holderTtl(instance, keys), 3000);
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s2", ttlMs: 9000 }], true)).toEqual([false]);
    expect(await instance.release(keys.lock, "s2")).toBe(false);
    expect(await instance.release(keys.lock, "s1")).toBe(true);
  });

  it("extend: a key without expiry is answered for and left without expiry", async (context) => {
    const { instance, prefix, putWithoutExpiry } = await make();
    if (!putWithoutExpiry) return context.skip("this implementation holds no key without expiry");
    const keys = lockKeys(prefix, "job");
    await putWithoutExpiry(keys.lock, "s1");
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 1000 }])).toEqual([true]);
    expect(await holderTtl(instance, keys)).toBe(-1);
  });
}
