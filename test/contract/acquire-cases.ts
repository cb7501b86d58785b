import { expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import {
  acquiring,
  expectTtlNear,
  grantedFence,
  refusedTtl,
  waiting,
  type SubjectFactory,
} from "./contract-subject.ts";

/** acquire (with waiting tickets and overtaking) and withdrawTicket. */
export function acquireCases(make: SubjectFactory): void {
  it("acquire: grants a free lock; a new fencing counter starts at the wall clock in microseconds", async () => {
    const { instance, prefix, wallMs } = await make();
    const keys = lockKeys(prefix, "job");
    const before = Math.floor(wallMs());
    const fence = grantedFence(await instance.acquire(acquiring(keys, "s1")));
    const after = Math.ceil(wallMs());
    // Same host, so the server's TIME and our clock agree within a few ms.
    expect(fence).toBeGreaterThanOrEqual(BigInt(before - 5) * 1000n);
    expect(fence).toBeLessThanOrEqual(BigInt(after + 5) * 1000n);
  });

  it("acquire: each grant bumps the counter by one, across releases", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    const first = grantedFence(await instance.acquire(acquiring(keys, "s1")));
    expect(await instance.release(keys.lock, "s1")).toBe(true);
    expect(grantedFence(await instance.acquire(acquiring(keys, "s2")))).toBe(first + 1n);
    expect(await instance.release(keys.lock, "s2")).toBe(true);
    expect(grantedFence(await instance.acquire(acquiring(keys, "s3")))).toBe(first + 2n);
  });

  it("acquire: a held lock is refused with the holder's remaining TTL, and the holder keeps it", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 5000 })));
    expectTtlNear(refusedTtl(await instance.acquire(acquiring(keys, "s2", { ttlMs: 9000 }))), 5000);
    expect(await instance.release(keys.lock, "s2")).toBe(false);
    expect(await instance.release(keys.lock, "s1")).toBe(true);
  });

  it("acquire: a lock is free again once its TTL ran out, and its counter goes on", async () => {
    const { instance, prefix, elapse } = await make();
    const keys = lockKeys(prefix, "job");
    const first = grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 100 })));
    await elapse(150);
    expect(grantedFence(await instance.acquire(acquiring(keys, "s2")))).toBe(first + 1n);
    expect(await instance.release(keys.lock, "s1")).toBe(false);
  });

  it("acquire: a fencing counter is kept for its retention after the last grant, then starts again from the clock", async () => {
    const { instance, prefix, elapse, wallMs } = await make();
    const keys = lockKeys(prefix, "job");
    const short = (secret: string) => acquiring(keys, secret, { ttlMs: 50, fenceRetentionMs: 400 });
    const first = grantedFence(await instance.acquire(short("s1")));
    await elapse(250);
    expect(grantedFence(await instance.acquire(short("s2")))).toBe(first + 1n);
    await elapse(250); // 500 ms after the first grant, 250 after the last: still kept
    expect(grantedFence(await instance.acquire(short("s3")))).toBe(first + 2n);
    await elapse(500);
    const before = Math.floor(wallMs());
    const fresh = grantedFence(await instance.acquire(short("s4")));
    expect(fresh).toBeGreaterThanOrEqual(BigInt(before - 5) * 1000n);
    expect(fresh).toBeGreaterThan(first + 2n);
  });

  it("acquire: a lock without expiry is refused with -1", async (context) => {
    const { instance, prefix, putWithoutExpiry } = await make();
    if (!putWithoutExpiry) return context.skip("this implementation holds no key without expiry");
    const keys = lockKeys(prefix, "job");
    await putWithoutExpiry(keys.lock, "forever");
    expect(await instance.acquire(acquiring(keys, "s1"))).toEqual({ granted: false, holderTtlMs: -1 });
  });

  it("tickets: a refused caller's ticket makes the freed lock wait for it; others are refused with -2", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    expectTtlNear(refusedTtl(await instance.acquire(waiting(keys, "w1", "0001-waiter"))), 5000);
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    expect(await instance.acquire(acquiring(keys, "newcomer"))).toEqual({ granted: false, holderTtlMs: -2 });
    expect(await instance.acquire(waiting(keys, "w2", "0002-later"))).toEqual({ granted: false, holderTtlMs: -2 });
    grantedFence(await instance.acquire(waiting(keys, "w1b", "0001-waiter")));
  });

  it("tickets: the grant consumes the caller's ticket", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(waiting(keys, "w1", "0001-waiter")));
    expect(await instance.release(keys.lock, "w1")).toBe(true);
    grantedFence(await instance.acquire(acquiring(keys, "newcomer")));
  });

  it("tickets: the smallest ticket goes first, whatever the order of registration", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "b", "0002-b")));
    refusedTtl(await instance.acquire(waiting(keys, "a", "0001-a")));
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    expect(await instance.acquire(waiting(keys, "b2", "0002-b"))).toEqual({ granted: false, holderTtlMs: -2 });
    grantedFence(await instance.acquire(waiting(keys, "a2", "0001-a")));
  });

  it("tickets: a ticket expires unless its owner's attempts refresh it", async () => {
    const { instance, prefix, elapse } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder", { ttlMs: 10_000 })));
    refusedTtl(await instance.acquire(waiting(keys, "w", "0001-w", 600)));
    await elapse(400);
    refusedTtl(await instance.acquire(waiting(keys, "w", "0001-w", 600))); // refreshed: lives 600 ms from here
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    await elapse(400);
    expect(await instance.acquire(acquiring(keys, "newcomer"))).toEqual({ granted: false, holderTtlMs: -2 });
    await elapse(300);
    grantedFence(await instance.acquire(acquiring(keys, "newcomer")));
  });

  it("tickets: a grant leaves the other tickets' lives alone, whatever the granted caller's ticket TTL", async () => {
    const { instance, prefix, elapse } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "elsewhere", "0001-older", 5000)));
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    // Granted with a short ticket TTL: its ticket is never registered, so the older one keeps its 5 s.
    grantedFence(await instance.acquire({ ...waiting(keys, "mine", "0002-mine", 200), overtake: true }));
    await elapse(300);
    expect(await instance.release(keys.lock, "mine")).toBe(true);
    expect(await instance.acquire(acquiring(keys, "newcomer"))).toEqual({ granted: false, holderTtlMs: -2 });
    grantedFence(await instance.acquire(waiting(keys, "elsewhere", "0001-older")));
  });

  it("overtake: a free lock goes to an overtaking caller before older tickets, and its own ticket is consumed", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "elsewhere", "0001-older")));
    refusedTtl(await instance.acquire(waiting(keys, "mine", "0002-mine")));
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    grantedFence(await instance.acquire({ ...waiting(keys, "mine", "0002-mine"), overtake: true }));
    expect(await instance.release(keys.lock, "mine")).toBe(true);
    // Only the older ticket is left: a newer one is refused, the older one wins.
    expect(await instance.acquire(waiting(keys, "newcomer", "0003-newer"))).toEqual({
      granted: false,
      holderTtlMs: -2,
    });
    grantedFence(await instance.acquire(waiting(keys, "elsewhere", "0001-older")));
  });

  it("overtake: a held lock is refused all the same", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    expectTtlNear(refusedTtl(await instance.acquire({ ...waiting(keys, "mine", "0001-mine"), overtake: true })), 5000);
  });

  it("withdrawTicket: a withdrawn ticket no longer blocks; the others still do", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "w1", "0001-w1")));
    refusedTtl(await instance.acquire(waiting(keys, "w2", "0002-w2")));
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    await instance.withdrawTicket(keys.queue, "0001-w1");
    expect(await instance.acquire(acquiring(keys, "newcomer"))).toEqual({ granted: false, holderTtlMs: -2 });
    await instance.withdrawTicket(keys.queue, "0002-w2");
    grantedFence(await instance.acquire(acquiring(keys, "newcomer")));
  });

  it("withdrawTicket: an unknown ticket or an empty queue is no error and changes nothing", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    await instance.withdrawTicket(keys.queue, "0001-nobody");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "w1", "0001-w1")));
    await instance.withdrawTicket(keys.queue, "0009-unknown");
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    expect(await instance.acquire(acquiring(keys, "newcomer"))).toEqual({ granted: false, holderTtlMs: -2 });
  });
}
