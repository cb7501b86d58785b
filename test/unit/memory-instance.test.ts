import { describe, expect, it } from "vitest";
import { lockKeys } from "../../src/engine/keys.ts";
import { MemoryInstance } from "../../src/instances/memory-instance.ts";
import type { InstanceAcquire, LockInstance } from "../../src/instances/lock-instance.ts";
import { FakeInstance } from "./support/fake-instance.ts";
import { ManualClock } from "./support/manual-clock.ts";
import { handoverContract } from "../support/handover-contract.ts";

/**
 * One contract, run against the embedded MemoryInstance and against the
 * FakeInstance the engine tests use: the fake must not drift from the real
 * semantics, or the engine tests would prove nothing.
 */
const implementations: [string, (clock: ManualClock) => LockInstance][] = [
  ["MemoryInstance", (clock) => new MemoryInstance("m", clock)],
  ["FakeInstance", (clock) => new FakeInstance("f", clock)],
];

const KEYS = lockKeys("c:", "job");
const RETENTION = 60_000;

function request(secret: string, ttlMs: number, ticket = "", ticketTtlMs = 1000): InstanceAcquire {
  return { keys: KEYS, secret, ttlMs, fenceRetentionMs: RETENTION, ticket, ticketTtlMs };
}

/** Lets queued microtasks (release notices) run. */
const settleMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe.each(implementations)("%s", (_name, make) => {
  function setup() {
    const clock = new ManualClock({ monotonicMs: 500, wallMs: 1_700_000_000_123 });
    return { clock, instance: make(clock) };
  }

  handoverContract(async () => ({ instance: setup().instance, keys: KEYS, settle: settleMicrotasks }));

  it("grants a free lock; a new counter starts at the wall clock in microseconds, then increments", async () => {
    const { instance } = setup();
    expect(await instance.acquire(request("s1", 1000))).toEqual({ granted: true, fence: 1_700_000_000_123_000n });
    expect(await instance.release(KEYS.lock, "s1")).toBe(true);
    expect(await instance.acquire(request("s2", 1000))).toEqual({ granted: true, fence: 1_700_000_000_123_001n });
  });

  it("refuses a held lock with the holder's remaining TTL, rounded up", async () => {
    const { clock, instance } = setup();
    await instance.acquire(request("s1", 1000));
    clock.advance(299.5);
    expect(await instance.acquire(request("s2", 1000))).toEqual({ granted: false, holderTtlMs: 701 });
  });

  it("expires on the monotonic clock only", async () => {
    const { clock, instance } = setup();
    await instance.acquire(request("s1", 1000));
    clock.stepWall(10_000_000); // an NTP step changes nothing
    expect((await instance.acquire(request("s2", 1000))).granted).toBe(false);
    clock.advance(999);
    expect((await instance.acquire(request("s2", 1000))).granted).toBe(false);
    clock.advance(1);
    expect((await instance.acquire(request("s2", 1000))).granted).toBe(true);
  });

  it("extends only with the holder's secret, from now", async () => {
    const { clock, instance } = setup();
    await instance.acquire(request("s1", 1000));
    expect(await instance.extend([{ lockKey: KEYS.lock, secret: "other", ttlMs: 5000 }])).toEqual([false]);
    clock.advance(900);
    expect(await instance.extend([{ lockKey: KEYS.lock, secret: "s1", ttlMs: 5000 }])).toEqual([true]);
    clock.advance(4999);
    expect(await instance.acquire(request("s2", 1000))).toEqual({ granted: false, holderTtlMs: 1 });
    clock.advance(1);
    expect(await instance.extend([{ lockKey: KEYS.lock, secret: "s1", ttlMs: 5000 }])).toEqual([false]); // expired
  });

  it("one extend call renews many keys and answers for each", async () => {
    const { instance } = setup();
    const other = lockKeys("c:", "other");
    await instance.acquire(request("s1", 1000));
    await instance.acquire({ ...request("s2", 1000), keys: other });
    const answers = await instance.extend([
      { lockKey: KEYS.lock, secret: "s1", ttlMs: 3000 },
      { lockKey: other.lock, secret: "wrong", ttlMs: 3000 },
      { lockKey: "c:lock:missing", secret: "s3", ttlMs: 3000 },
      { lockKey: other.lock, secret: "s2", ttlMs: 4000 },
    ]);
    expect(answers).toEqual([true, false, false, true]);
    expect(await instance.acquire(request("x", 1000))).toEqual({ granted: false, holderTtlMs: 3000 });
    expect(await instance.acquire({ ...request("x", 1000), keys: other })).toEqual({ granted: false, holderTtlMs: 4000 });
  });

  it("extend with adopt recreates a missing key, but never takes another holder's", async () => {
    const { instance } = setup();
    expect(await instance.extend([{ lockKey: KEYS.lock, secret: "s1", ttlMs: 1000 }], true)).toEqual([true]);
    expect(await instance.acquire(request("s2", 1000))).toEqual({ granted: false, holderTtlMs: 1000 });
    expect(await instance.extend([{ lockKey: KEYS.lock, secret: "s2", ttlMs: 1000 }], true)).toEqual([false]);
  });

  it("releases only with the holder's secret and announces the release with its tag", async () => {
    const { instance } = setup();
    const heard: string[] = [];
    const unsubscribe = await instance.watchReleases(KEYS.channel, (tag) => heard.push(tag));
    await instance.acquire(request("s1", 1000));
    expect(await instance.release(KEYS.lock, "other", { channel: KEYS.channel, tag: "no", queueKey: KEYS.queue })).toBe(false);
    expect(await instance.release(KEYS.lock, "s1", { channel: KEYS.channel, tag: "t1", queueKey: KEYS.queue })).toBe(true);
    expect(await instance.release(KEYS.lock, "s1", { channel: KEYS.channel, tag: "t2", queueKey: KEYS.queue })).toBe(false);
    await settleMicrotasks();
    expect(heard).toEqual(["t1"]);

    await instance.acquire(request("s3", 1000));
    expect(await instance.release(KEYS.lock, "s3")).toBe(true); // no announcement asked for
    unsubscribe();
    await instance.acquire(request("s4", 1000));
    await instance.release(KEYS.lock, "s4", { channel: KEYS.channel, tag: "t4", queueKey: KEYS.queue });
    await settleMicrotasks();
    expect(heard).toEqual(["t1"]);
  });

  it("raiseFence raises the counter to at least the token and returns it", async () => {
    const { instance } = setup();
    expect(await instance.raiseFence(KEYS.fence, 50n, RETENTION)).toBe(50n);
    expect(await instance.raiseFence(KEYS.fence, 40n, RETENTION)).toBe(50n);
    expect(await instance.acquire(request("s1", 1000))).toEqual({ granted: true, fence: 51n });
    expect(await instance.raiseFence(KEYS.fence, 2n ** 64n, RETENTION)).toBe(2n ** 64n);
  });

  describe("waiting tickets", () => {
    it("a live ticket makes a free lock refuse others, with -2 as the TTL", async () => {
      const { instance } = setup();
      // Registered while the lock was held elsewhere.
      await instance.acquire(request("holder", 1000));
      expect((await instance.acquire(request("w1", 1000, "0001-waiter"))).granted).toBe(false);
      await instance.release(KEYS.lock, "holder");
      expect(await instance.acquire(request("newcomer", 1000))).toEqual({ granted: false, holderTtlMs: -2 });
      expect(await instance.acquire(request("w2", 1000, "0002-later"))).toEqual({ granted: false, holderTtlMs: -2 });
      expect((await instance.acquire(request("w1b", 1000, "0001-waiter"))).granted).toBe(true);
    });

    it("the grant consumes the ticket", async () => {
      const { instance } = setup();
      expect((await instance.acquire(request("w1", 1000, "0001-waiter"))).granted).toBe(true);
      await instance.release(KEYS.lock, "w1");
      expect((await instance.acquire(request("newcomer", 1000))).granted).toBe(true);
    });

    it("the smallest ticket goes first, whatever the order of registration", async () => {
      const { instance } = setup();
      await instance.acquire(request("holder", 1000));
      await instance.acquire(request("b", 1000, "0002-b"));
      await instance.acquire(request("a", 1000, "0001-a"));
      await instance.release(KEYS.lock, "holder");
      expect((await instance.acquire(request("b2", 1000, "0002-b"))).granted).toBe(false);
      expect((await instance.acquire(request("a2", 1000, "0001-a"))).granted).toBe(true);
    });

    it("a ticket expires unless refreshed by its owner's attempts", async () => {
      const { clock, instance } = setup();
      await instance.acquire(request("holder", 10_000));
      await instance.acquire(request("w", 100, "0001-w", 300));
      clock.advance(200);
      expect((await instance.acquire(request("w", 100, "0001-w", 300))).granted).toBe(false); // refreshed: lives until 500
      await instance.release(KEYS.lock, "holder");
      clock.advance(299);
      expect(await instance.acquire(request("newcomer", 100))).toEqual({ granted: false, holderTtlMs: -2 });
      clock.advance(1);
      expect((await instance.acquire(request("newcomer", 100))).granted).toBe(true);
    });

    it("a withdrawn ticket no longer blocks", async () => {
      const { instance } = setup();
      await instance.acquire(request("holder", 1000));
      await instance.acquire(request("w", 1000, "0001-w"));
      await instance.release(KEYS.lock, "holder");
      await instance.withdrawTicket(KEYS.queue, "0001-w");
      expect((await instance.acquire(request("newcomer", 1000))).granted).toBe(true);
    });
  });

  it("identifies itself stably and answers ping", async () => {
    const { instance } = setup();
    const first = await instance.identify();
    expect((await instance.identify()).runId).toBe(first.runId);
    expect(first.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(typeof instance.connectionEpoch()).toBe("number");
    await expect(instance.ping()).resolves.toBeUndefined();
    await expect(instance.waitUntilConnected(10)).resolves.toBeUndefined();
  });
});
