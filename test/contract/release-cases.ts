import { expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import type { Announcement, LockKeys } from "../../src/instances/lock-instance.ts";
import { acquiring, grantedFence, listen, refusedTtl, waiting, type SubjectFactory } from "./contract-subject.ts";

const announce = (keys: LockKeys, tag: string): Announcement => ({ channel: keys.channel, tag, queueKey: keys.queue });

/** release, with and without its announcement, and watchReleases. */
export function releaseCases(make: SubjectFactory): void {
  it("release: only the holder's secret deletes the key, and only once", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    expect(await instance.release(keys.lock, "other")).toBe(false);
    refusedTtl(await instance.acquire(acquiring(keys, "s2")));
    expect(await instance.release(keys.lock, "s1")).toBe(true);
    expect(await instance.release(keys.lock, "s1")).toBe(false);
    grantedFence(await instance.acquire(acquiring(keys, "s2")));
  });

  it("release: the fencing counter and the waiting tickets stay", async () => {
    const { instance, prefix } = await make();
    const keys = lockKeys(prefix, "job");
    const first = grantedFence(await instance.acquire(acquiring(keys, "s1")));
    refusedTtl(await instance.acquire(waiting(keys, "w", "0001-w")));
    expect(await instance.release(keys.lock, "s1", announce(keys, "t1"))).toBe(true);
    expect(await instance.acquire(acquiring(keys, "newcomer"))).toEqual({ granted: false, holderTtlMs: -2 });
    expect(grantedFence(await instance.acquire(waiting(keys, "w", "0001-w")))).toBe(first + 1n);
  });

  it("release with announce: the tag and the next waiter reach watchers; a refused release and one without announce publish nothing", async () => {
    const subject = await make();
    const { instance, prefix } = subject;
    const keys = lockKeys(prefix, "job");
    const watch = await listen(subject, keys.channel);
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    refusedTtl(await instance.acquire(waiting(keys, "w", "0001-w")));
    expect(await instance.release(keys.lock, "other", announce(keys, "refused"))).toBe(false);
    expect(await instance.release(keys.lock, "s1", announce(keys, "t1"))).toBe(true);
    expect(await instance.release(keys.lock, "s1", announce(keys, "again"))).toBe(false);
    grantedFence(await instance.acquire(waiting(keys, "s2", "0001-w")));
    refusedTtl(await instance.acquire(waiting(keys, "v", "0002-v")));
    expect(await instance.release(keys.lock, "s2")).toBe(true);
    grantedFence(await instance.acquire(waiting(keys, "s3", "0002-v")));
    refusedTtl(await instance.acquire(waiting(keys, "u", "0003-u")));
    expect(await instance.release(keys.lock, "s3", announce(keys, "t3"))).toBe(true);
    // Notices arrive in order: the second proves nothing came between.
    expect(await watch.until(2)).toEqual(["t1 0001-w", "t3 0003-u"]);
  });

  it("release with announce: nothing is published while no live ticket waits", async () => {
    const subject = await make();
    const { instance, prefix, elapse } = subject;
    const keys = lockKeys(prefix, "job");
    const watch = await listen(subject, keys.channel);
    // Nobody ever waited.
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    expect(await instance.release(keys.lock, "s1", announce(keys, "t1"))).toBe(true);
    // The only ticket expired.
    grantedFence(await instance.acquire(acquiring(keys, "s2")));
    refusedTtl(await instance.acquire(waiting(keys, "late", "0001-late", 200)));
    await elapse(300);
    expect(await instance.release(keys.lock, "s2", announce(keys, "t2"))).toBe(true);
    // The only ticket was withdrawn.
    grantedFence(await instance.acquire(acquiring(keys, "s3")));
    refusedTtl(await instance.acquire(waiting(keys, "gone", "0002-gone")));
    await instance.withdrawTicket(keys.queue, "0002-gone");
    expect(await instance.release(keys.lock, "s3", announce(keys, "t3"))).toBe(true);
    // The only waiter was granted: its ticket went with the grant.
    grantedFence(await instance.acquire(acquiring(keys, "s4")));
    refusedTtl(await instance.acquire(waiting(keys, "w", "0003-w")));
    expect(await instance.release(keys.lock, "s4")).toBe(true);
    grantedFence(await instance.acquire(waiting(keys, "s5", "0003-w")));
    expect(await instance.release(keys.lock, "s5", announce(keys, "t5"))).toBe(true);
    // A live ticket: this one is published, and it is the first.
    grantedFence(await instance.acquire(acquiring(keys, "s6")));
    refusedTtl(await instance.acquire(waiting(keys, "x", "0004-x")));
    expect(await instance.release(keys.lock, "s6", announce(keys, "t6"))).toBe(true);
    expect(await watch.until(1)).toEqual(["t6 0004-x"]);
  });

  it("release notice: names the oldest live ticket, never an expired or withdrawn one", async () => {
    const subject = await make();
    const { instance, prefix, elapse } = subject;
    const keys = lockKeys(prefix, "job");
    const watch = await listen(subject, keys.channel);
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "b", "0002-b")));
    refusedTtl(await instance.acquire(waiting(keys, "a", "0001-a")));
    expect(await instance.release(keys.lock, "holder", announce(keys, "t1"))).toBe(true);
    grantedFence(await instance.acquire(waiting(keys, "a", "0001-a")));
    expect(await instance.release(keys.lock, "a", announce(keys, "t2"))).toBe(true);
    grantedFence(await instance.acquire(waiting(keys, "b", "0002-b")));
    refusedTtl(await instance.acquire(waiting(keys, "c", "0003-c", 200)));
    refusedTtl(await instance.acquire(waiting(keys, "d", "0004-d")));
    await elapse(300);
    expect(await instance.release(keys.lock, "b", announce(keys, "t3"))).toBe(true);
    grantedFence(await instance.acquire(waiting(keys, "d", "0004-d")));
    refusedTtl(await instance.acquire(waiting(keys, "e", "0005-e")));
    refusedTtl(await instance.acquire(waiting(keys, "f", "0006-f")));
    await instance.withdrawTicket(keys.queue, "0005-e");
    expect(await instance.release(keys.lock, "d", announce(keys, "t4"))).toBe(true);
    expect(await watch.until(4)).toEqual(["t1 0001-a", "t2 0002-b", "t3 0004-d", "t4 0006-f"]);
  });

  it("watchReleases: after one watcher stops, another watcher of the channel still hears", async () => {
    const subject = await make();
    const { instance, prefix } = subject;
    const keys = lockKeys(prefix, "job");
    const first = await listen(subject, keys.channel);
    const second = await listen(subject, keys.channel);
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    refusedTtl(await instance.acquire(waiting(keys, "w1", "0001-w1")));
    expect(await instance.release(keys.lock, "s1", announce(keys, "t1"))).toBe(true);
    expect(await first.until(1)).toEqual(["t1 0001-w1"]);
    first.stop();
    grantedFence(await instance.acquire(waiting(keys, "s2", "0001-w1")));
    refusedTtl(await instance.acquire(waiting(keys, "w2", "0002-w2")));
    expect(await instance.release(keys.lock, "s2", announce(keys, "t2"))).toBe(true);
    expect(await second.until(2)).toEqual(["t1 0001-w1", "t2 0002-w2"]);
    expect(first.heard).toEqual(["t1 0001-w1"]);
  });

  it("watchReleases: a watcher hears its own channel only; watching again after stopping works", async () => {
    const subject = await make();
    const { instance, prefix } = subject;
    const job = lockKeys(prefix, "job");
    const other = lockKeys(prefix, "other");
    const jobWatch = await listen(subject, job.channel);
    const otherWatch = await listen(subject, other.channel);
    grantedFence(await instance.acquire(acquiring(job, "s1")));
    refusedTtl(await instance.acquire(waiting(job, "w1", "0001-w1")));
    expect(await instance.release(job.lock, "s1", announce(job, "job-1"))).toBe(true);
    expect(await jobWatch.until(1)).toEqual(["job-1 0001-w1"]);
    jobWatch.stop();
    otherWatch.stop();
    const again = await listen(subject, other.channel);
    grantedFence(await instance.acquire(acquiring(other, "s2")));
    refusedTtl(await instance.acquire(waiting(other, "w2", "0002-w2")));
    expect(await instance.release(other.lock, "s2", announce(other, "other-1"))).toBe(true);
    expect(await again.until(1)).toEqual(["other-1 0002-w2"]);
    expect(otherWatch.heard).toEqual([]);
    expect(jobWatch.heard).toEqual(["job-1 0001-w1"]);
  });
}
