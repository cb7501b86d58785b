import { expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import type { Announcement, LockKeys } from "../../src/instances/lock-instance.ts";
import {
  acquiring,
  expectTtlNear,
  grantedFence,
  listen,
  refusedTtl,
  waiting,
  type SubjectFactory,
} from "./contract-subject.ts";

const announce = (keys: LockKeys, tag: string): Announcement => ({ channel: keys.channel, tag, queueKey: keys.queue });

/** handover: a release and the next caller's acquire in one atomic step. */
export function handoverCases(make: SubjectFactory): void {
  it("handover: the lock passes to the next secret in one step, with the next counter and no announcement", async () => {
    const subject = await make();
    const { instance, prefix } = subject;
    const keys = lockKeys(prefix, "job");
    const watch = await listen(subject, keys.channel);
    const first = grantedFence(await instance.acquire(acquiring(keys, "s1")));
    // Two waiters: the first is handed the lock, the second still waits when it passes.
    refusedTtl(await instance.acquire(waiting(keys, "a", "0001-a")));
    refusedTtl(await instance.acquire(waiting(keys, "b", "0002-b")));
    const reply = await instance.handover(
      { lockKey: keys.lock, secret: "s1", announce: announce(keys, "t1") },
      waiting(keys, "s2", "0001-a"),
    );
    expect(reply).toEqual({ released: true, acquire: { granted: true, fence: first + 1n } });
    expect(await instance.release(keys.lock, "s1")).toBe(false);
    expect(await instance.release(keys.lock, "s2", announce(keys, "t2"))).toBe(true);
    // Only t2: the handover above announced nothing, though b was waiting.
    expect(await watch.until(1)).toEqual(["t2 0002-b"]);
  });

  it("handover: a secret that does not hold the lock releases nothing, and the next caller is refused", async () => {
    const subject = await make();
    const { instance, prefix } = subject;
    const keys = lockKeys(prefix, "job");
    const watch = await listen(subject, keys.channel);
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    refusedTtl(await instance.acquire(waiting(keys, "w", "0001-w")));
    const reply = await instance.handover(
      { lockKey: keys.lock, secret: "intruder", announce: announce(keys, "t1") },
      acquiring(keys, "s2"),
    );
    expect(reply.released).toBe(false);
    expectTtlNear(refusedTtl(reply.acquire), 5000);
    expect(await instance.release(keys.lock, "s1", announce(keys, "t2"))).toBe(true);
    expect(await watch.until(1)).toEqual(["t2 0001-w"]);
  });

  it("handover: an older waiting ticket wins; the lock is left free and the release announced, naming that ticket", async () => {
    const subject = await make();
    const { instance, prefix } = subject;
    const keys = lockKeys(prefix, "job");
    const watch = await listen(subject, keys.channel);
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    refusedTtl(await instance.acquire(waiting(keys, "elsewhere", "0001-older")));
    const reply = await instance.handover(
      { lockKey: keys.lock, secret: "s1", announce: announce(keys, "t1") },
      waiting(keys, "s2", "0002-newer"),
    );
    expect(reply).toEqual({ released: true, acquire: { granted: false, holderTtlMs: -2 } });
    // The waiter who goes next: only it needs to wake.
    expect(await watch.until(1)).toEqual(["t1 0001-older"]);
    grantedFence(await instance.acquire(waiting(keys, "elsewhere-again", "0001-older")));
  });

  it("handover: an overtaking caller is served before older tickets, and its own ticket is consumed", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    refusedTtl(await instance.acquire(waiting(keys, "elsewhere", "0001-older")));
    refusedTtl(await instance.acquire(waiting(keys, "mine", "0002-mine")));
    const reply = await instance.handover(
      { lockKey: keys.lock, secret: "s1" },
      { ...waiting(keys, "s2", "0002-mine"), overtake: true },
    );
    expect(reply.released).toBe(true);
    grantedFence(reply.acquire);
    expect(await instance.release(keys.lock, "s2")).toBe(true);
    // Only the older ticket is left: "0002-mine" no longer blocks a newcomer once that one is gone too.
    expect(await instance.acquire(waiting(keys, "newcomer", "0003-newer"))).toEqual({
      granted: false,
      holderTtlMs: -2,
    });
    grantedFence(await instance.acquire(waiting(keys, "elsewhere-again", "0001-older")));
    expect(await instance.release(keys.lock, "elsewhere-again")).toBe(true);
    grantedFence(await instance.acquire(waiting(keys, "newcomer-again", "0003-newer")));
  });

  it("handover: overtaking applies only to a lock passed on, not to one found free", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "elsewhere", "0001-older")));
    expect(await instance.release(keys.lock, "holder")).toBe(true); // gone before the late handover below
    const reply = await instance.handover(
      { lockKey: keys.lock, secret: "holder" },
      { ...waiting(keys, "s2", "0002-mine"), overtake: true },
    );
    expect(reply).toEqual({ released: false, acquire: { granted: false, holderTtlMs: -2 } });
  });

  it("handover: with the lock already gone, the next caller simply acquires, and nothing is announced", async () => {
    const subject = await make();
    const { instance, prefix } = subject;
    const keys = lockKeys(prefix, "job");
    const watch = await listen(subject, keys.channel);
    // Two waiters on a free lock: the handover's caller goes first, the other still waits.
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "a", "0001-a")));
    refusedTtl(await instance.acquire(waiting(keys, "b", "0002-b")));
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    const reply = await instance.handover(
      { lockKey: keys.lock, secret: "expired", announce: announce(keys, "t1") },
      waiting(keys, "s2", "0001-a"),
    );
    expect(reply.released).toBe(false);
    grantedFence(reply.acquire);
    expect(await instance.release(keys.lock, "s2", announce(keys, "t2"))).toBe(true);
    expect(await watch.until(1)).toEqual(["t2 0002-b"]);
  });
}
