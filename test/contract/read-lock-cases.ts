import { expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import type { LockReading } from "../../src/instances/lock-instance.ts";
import {
  acquiring,
  expectTtlNear,
  grantedFence,
  HOLDER,
  RETENTION_MS,
  refusedTtl,
  waiting,
  type SubjectFactory,
} from "./contract-subject.ts";

/** A long secret, so a case can tell whether any part of it leaked into a reading. */
const SECRET = "Zk3q-secret-of-the-holder_0123456789";

/** readLock: what Describe reads from each instance, and the holder the acquire records for it. */
export function readLockCases(make: SubjectFactory): void {
  it("readLock: a free lock with no counter and nobody waiting", async () => {
    const { instance, prefix } = await make();
    expect(await instance.readLock(lockKeys(prefix, "job"))).toEqual({
      ttlMs: -2,
      holder: undefined,
      fence: undefined,
      tickets: 0,
    } satisfies LockReading);
  });

  it("readLock: a held lock's TTL, holder and counter, and never its secret", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    const fence = grantedFence(await instance.acquire(acquiring(keys, SECRET, { ttlMs: 4000 })));
    const reading = await instance.readLock(keys);
    expect(reading).toMatchObject({ holder: HOLDER, fence, tickets: 0 });
    expectTtlNear(reading.ttlMs, 4000);
    expect(JSON.stringify(reading, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))).not.toMatch(
      /secret|Zk3q|0123456789/,
    );
  });

  it("readLock: an owner with spaces, punctuation and non-ASCII text comes back whole; an empty one too", async () => {
    const { instance, prefix } = await make();
    const spaced = lockKeys(prefix, "spaced");
    const owner = "pod web-7 (zone b) · Zürich  two  spaces ";
    grantedFence(await instance.acquire(acquiring(spaced, "s1", { holder: { owner, sinceMs: 1_234 } })));
    expect((await instance.readLock(spaced)).holder).toEqual({ owner, sinceMs: 1_234 });
    const empty = lockKeys(prefix, "empty");
    grantedFence(await instance.acquire(acquiring(empty, "s2", { holder: { owner: "", sinceMs: 5 } })));
    expect((await instance.readLock(empty)).holder).toEqual({ owner: "", sinceMs: 5 });
  });

  it("readLock: a lock taken without a holder (an older sidecar) reads as held by nobody known; it still works", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "bare", { holder: undefined })));
    const reading = await instance.readLock(keys);
    expect(reading.holder).toBeUndefined();
    expectTtlNear(reading.ttlMs, 5000);
    expect(await instance.extend([{ lockKey: keys.lock, secret: "bare", ttlMs: 9000 }])).toEqual([true]);
    expect(await instance.release(keys.lock, "bare")).toBe(true);
    expect((await instance.readLock(keys)).ttlMs).toBe(-2);
  });

  it("the holder does not weaken the secret: its prefix, another secret or the holder text match nothing", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, SECRET)));
    for (const wrong of [SECRET.slice(0, 20), `${SECRET}x`, `${HOLDER.sinceMs} ${HOLDER.owner}`, ""]) {
      expect(await instance.extend([{ lockKey: keys.lock, secret: wrong, ttlMs: 9000 }])).toEqual([false]);
      expect(await instance.release(keys.lock, wrong)).toBe(false);
    }
    expect((await instance.readLock(keys)).holder).toEqual(HOLDER);
    expect(await instance.release(keys.lock, SECRET)).toBe(true);
  });

  it("extend keeps the holder, when it lengthens the TTL and when it leaves it; an adopted key has none", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 1000 })));
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 8000 }])).toEqual([true]);
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 2000 }])).toEqual([true]);
    const reading = await instance.readLock(keys);
    expect(reading.holder).toEqual(HOLDER);
    expectTtlNear(reading.ttlMs, 8000);
    const adopted = lockKeys(prefix, "adopted");
    expect(await instance.extend([{ lockKey: adopted.lock, secret: "s2", ttlMs: 3000 }], true)).toEqual([true]);
    expect(await instance.readLock(adopted)).toMatchObject({ holder: undefined, fence: undefined });
  });

  it("handover records the next caller as the holder", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    const first = grantedFence(await instance.acquire(acquiring(keys, "s1")));
    const next = { owner: "next caller", sinceMs: 1_700_000_000_999 };
    const reply = await instance.handover(
      { lockKey: keys.lock, secret: "s1" },
      acquiring(keys, "s2", { holder: next }),
    );
    expect(reply.acquire).toEqual({ granted: true, fence: first + 1n });
    expect(await instance.readLock(keys)).toMatchObject({ holder: next, fence: first + 1n });
  });

  it("readLock: counts live tickets only, and writes nothing (an expired ticket still blocks nobody after it)", async () => {
    const { instance, prefix, elapse } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    // b first: each registration sets the whole hash's expiry, and a's must outlive b's.
    refusedTtl(await instance.acquire(waiting(keys, "b", "0002-b", 600)));
    refusedTtl(await instance.acquire(waiting(keys, "a", "0001-a", 60_000)));
    expect((await instance.readLock(keys)).tickets).toBe(2);
    await elapse(1000);
    expect((await instance.readLock(keys)).tickets).toBe(1);
    // The reading changed nothing: the holder still holds, a's ticket still goes first.
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    expect(refusedTtl(await instance.acquire(waiting(keys, "c", "0003-c")))).toBe(-2);
    expect((await instance.readLock(keys)).tickets).toBe(2);
  });

  it("readLock: the counter a raise left is what it reads", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    expect(await instance.raiseFence(keys.fence, 2n ** 60n, RETENTION_MS)).toBe(2n ** 60n);
    expect((await instance.readLock(keys)).fence).toBe(2n ** 60n);
  });
}
