import { expect, it } from "vitest";
import type { InstanceAcquire, LockInstance, LockKeys } from "../../src/instances/lock-instance.ts";

export interface HandoverSubject {
  instance: LockInstance;
  keys: LockKeys;
  /** Lets announcements in flight arrive (microtasks for in-process instances, a pub/sub delivery for servers). */
  settle(): Promise<void>;
}

/**
 * What `handover` must do, whatever implements it: the Lua script on a real
 * server, the embedded MemoryInstance and the engine tests' fake must agree,
 * or the engine tests would prove nothing about production.
 */
export function handoverContract(make: () => Promise<HandoverSubject>): void {
  const RETENTION = 60_000;
  const acquire = (keys: LockKeys, secret: string, ticket = ""): InstanceAcquire => ({ keys, secret, ttlMs: 5000, fenceRetentionMs: RETENTION, ticket, ticketTtlMs: 5000 });

  async function listen(subject: HandoverSubject): Promise<string[]> {
    const heard: string[] = [];
    await subject.instance.watchReleases(subject.keys.channel, (tag) => heard.push(tag));
    return heard;
  }

  it("handover: the lock passes to the next secret in one step, with the next token and no announcement", async () => {
    const subject = await make();
    const { instance, keys } = subject;
    const heard = await listen(subject);
    const first = await instance.acquire(acquire(keys, "s1"));
    if (!first.granted) return expect.fail("setup: not granted");
    const reply = await instance.handover({ lockKey: keys.lock, secret: "s1", announce: { channel: keys.channel, tag: "t1" } }, acquire(keys, "s2"));
    expect(reply).toEqual({ released: true, acquire: { granted: true, fence: first.fence + 1n } });
    expect(await instance.release(keys.lock, "s1")).toBe(false);
    await subject.settle();
    expect(heard).toEqual([]);
    expect(await instance.release(keys.lock, "s2", { channel: keys.channel, tag: "t2" })).toBe(true);
    await subject.settle();
    expect(heard).toEqual(["t2"]); // the listener works: the silence above was real
  });

  it("handover: a secret that does not hold the lock releases nothing and the next caller is refused", async () => {
    const subject = await make();
    const { instance, keys } = subject;
    const heard = await listen(subject);
    await instance.acquire(acquire(keys, "s1"));
    const reply = await instance.handover({ lockKey: keys.lock, secret: "intruder", announce: { channel: keys.channel, tag: "t1" } }, acquire(keys, "s2"));
    expect(reply.released).toBe(false);
    expect(reply.acquire.granted).toBe(false);
    if (!reply.acquire.granted) expect(reply.acquire.holderTtlMs).toBeGreaterThan(4000);
    await subject.settle();
    expect(heard).toEqual([]);
    expect(await instance.release(keys.lock, "s1")).toBe(true);
  });

  it("handover: an older waiting ticket wins; the lock is left free and the release announced", async () => {
    const subject = await make();
    const { instance, keys } = subject;
    const heard = await listen(subject);
    await instance.acquire(acquire(keys, "s1"));
    expect((await instance.acquire(acquire(keys, "elsewhere", "0001-older"))).granted).toBe(false);
    const reply = await instance.handover({ lockKey: keys.lock, secret: "s1", announce: { channel: keys.channel, tag: "t1" } }, acquire(keys, "s2", "0002-newer"));
    expect(reply).toEqual({ released: true, acquire: { granted: false, holderTtlMs: -2 } });
    await subject.settle();
    expect(heard).toEqual(["t1"]);
    expect((await instance.acquire(acquire(keys, "elsewhere-again", "0001-older"))).granted).toBe(true);
  });

  it("handover: with the lock already gone, the next caller simply acquires", async () => {
    const subject = await make();
    const { instance, keys } = subject;
    const reply = await instance.handover({ lockKey: keys.lock, secret: "expired" }, acquire(keys, "s2"));
    expect(reply.released).toBe(false);
    expect(reply.acquire.granted).toBe(true);
    expect(await instance.release(keys.lock, "s2")).toBe(true);
  });
}
