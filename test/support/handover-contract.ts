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
    const reply = await instance.handover({ lockKey: keys.lock, secret: "s1", announce: { channel: keys.channel, tag: "t1", queueKey: keys.queue } }, acquire(keys, "s2"));
    expect(reply).toEqual({ released: true, acquire: { granted: true, fence: first.fence + 1n } });
    expect(await instance.release(keys.lock, "s1")).toBe(false);
    await subject.settle();
    expect(heard).toEqual([]);
    expect(await instance.release(keys.lock, "s2", { channel: keys.channel, tag: "t2", queueKey: keys.queue })).toBe(true);
    await subject.settle();
    expect(heard).toEqual(["t2"]); // the listener works: the silence above was real
  });

  it("handover: a secret that does not hold the lock releases nothing and the next caller is refused", async () => {
    const subject = await make();
    const { instance, keys } = subject;
    const heard = await listen(subject);
    await instance.acquire(acquire(keys, "s1"));
    const reply = await instance.handover({ lockKey: keys.lock, secret: "intruder", announce: { channel: keys.channel, tag: "t1", queueKey: keys.queue } }, acquire(keys, "s2"));
    expect(reply.released).toBe(false);
    expect(reply.acquire.granted).toBe(false);
    if (!reply.acquire.granted) expect(reply.acquire.holderTtlMs).toBeGreaterThan(4000);
    await subject.settle();
    expect(heard).toEqual([]);
    expect(await instance.release(keys.lock, "s1")).toBe(true);
  });

  it("handover: an older waiting ticket wins; the lock is left free and the release announced, naming that ticket", async () => {
    const subject = await make();
    const { instance, keys } = subject;
    const heard = await listen(subject);
    await instance.acquire(acquire(keys, "s1"));
    expect((await instance.acquire(acquire(keys, "elsewhere", "0001-older"))).granted).toBe(false);
    const reply = await instance.handover({ lockKey: keys.lock, secret: "s1", announce: { channel: keys.channel, tag: "t1", queueKey: keys.queue } }, acquire(keys, "s2", "0002-newer"));
    expect(reply).toEqual({ released: true, acquire: { granted: false, holderTtlMs: -2 } });
    await subject.settle();
    expect(heard).toEqual(["t1 0001-older"]); // the waiter who goes next: only it needs to wake
    expect((await instance.acquire(acquire(keys, "elsewhere-again", "0001-older"))).granted).toBe(true);
  });

  it("handover: an overtaking caller is served before older tickets, and its own ticket is consumed", async () => {
    const subject = await make();
    const { instance, keys } = subject;
    await instance.acquire(acquire(keys, "s1"));
    expect((await instance.acquire(acquire(keys, "elsewhere", "0001-older"))).granted).toBe(false);
    expect((await instance.acquire(acquire(keys, "mine", "0002-mine"))).granted).toBe(false);
    const reply = await instance.handover({ lockKey: keys.lock, secret: "s1" }, { ...acquire(keys, "s2", "0002-mine"), overtake: true });
    expect(reply.released).toBe(true);
    expect(reply.acquire.granted).toBe(true);
    expect(await instance.release(keys.lock, "s2")).toBe(true);
    // Only the older ticket is left: "0002-mine" no longer blocks a newcomer once it is gone too.
    expect(await instance.acquire(acquire(keys, "newcomer", "0003-newer"))).toEqual({ granted: false, holderTtlMs: -2 });
    expect((await instance.acquire(acquire(keys, "elsewhere-again", "0001-older"))).granted).toBe(true);
    await instance.release(keys.lock, "elsewhere-again");
    expect((await instance.acquire(acquire(keys, "newcomer-again", "0003-newer"))).granted).toBe(true);
  });

  it("handover: overtaking applies only to a lock passed on, not to one found free", async () => {
    const subject = await make();
    const { instance, keys } = subject;
    expect((await instance.acquire(acquire(keys, "holder"))).granted).toBe(true);
    expect((await instance.acquire(acquire(keys, "elsewhere", "0001-older"))).granted).toBe(false);
    await instance.release(keys.lock, "holder"); // gone before the late handover below
    const reply = await instance.handover({ lockKey: keys.lock, secret: "holder" }, { ...acquire(keys, "s2", "0002-mine"), overtake: true });
    expect(reply).toEqual({ released: false, acquire: { granted: false, holderTtlMs: -2 } });
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
