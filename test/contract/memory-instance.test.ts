import { describe, expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import type { LockInstance } from "../../src/instances/lock-instance.ts";
import { MemoryInstance } from "../../src/instances/memory-instance.ts";
import { FakeInstance } from "../unit/support/fake-instance.ts";
import { ManualClock } from "../unit/support/manual-clock.ts";
import { acquiring, grantedFence, type ContractSubject } from "./contract-subject.ts";
import { describeLockInstanceContract } from "./lock-instance-contract.ts";

/** A clock that only moves when a case lets time pass: the in-process cases take no real time. */
const startClock = (): ManualClock => new ManualClock({ monotonicMs: 500, wallMs: 1_700_000_000_123 });

/** Lets queued microtasks (release notices) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function subject(
  instance: LockInstance,
  clock: ManualClock,
  putWithoutExpiry: ContractSubject["putWithoutExpiry"],
): ContractSubject {
  return {
    instance,
    prefix: "c:",
    elapse: async (ms) => clock.advance(ms),
    settle,
    wallMs: () => clock.wallMs(),
    putWithoutExpiry,
    close: () => instance.close(),
  };
}

describeLockInstanceContract("MemoryInstance", async () => {
  const clock = startClock();
  // MemoryInstance offers no way to store a key without expiry: those cases run on the fake's store.
  return subject(new MemoryInstance("m", clock), clock, undefined);
});

describeLockInstanceContract("FakeInstance (the engine tests' instance)", async () => {
  const clock = startClock();
  const fake = new FakeInstance("f", clock);
  return subject(fake, clock, async (key, value) => fake.put(key, value, undefined));
});

/** What only a manual clock can show exactly: rounding and which clock expiry follows. */
describe.each([
  ["MemoryInstance", (clock: ManualClock): LockInstance => new MemoryInstance("m", clock)],
  ["FakeInstance", (clock: ManualClock): LockInstance => new FakeInstance("f", clock)],
])("%s on a manual clock", (_name, make) => {
  const keys = lockKeys("c:", "job");

  it("a new counter starts at the wall clock in microseconds, then increments", async () => {
    const instance = make(startClock());
    expect(await instance.acquire(acquiring(keys, "s1"))).toEqual({ granted: true, fence: 1_700_000_000_123_000n });
    expect(await instance.release(keys.lock, "s1")).toBe(true);
    expect(await instance.acquire(acquiring(keys, "s2"))).toEqual({ granted: true, fence: 1_700_000_000_123_001n });
  });

  it("refuses a held lock with the holder's remaining TTL, rounded up", async () => {
    const clock = startClock();
    const instance = make(clock);
    grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 1000 })));
    clock.advance(299.5);
    expect(await instance.acquire(acquiring(keys, "s2"))).toEqual({ granted: false, holderTtlMs: 701 });
  });

  it("expires on the monotonic clock only", async () => {
    const clock = startClock();
    const instance = make(clock);
    grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 1000 })));
    clock.stepWall(10_000_000); // an NTP step changes nothing
    expect((await instance.acquire(acquiring(keys, "s2"))).granted).toBe(false);
    clock.advance(999);
    expect((await instance.acquire(acquiring(keys, "s2"))).granted).toBe(false);
    clock.advance(1);
    expect((await instance.acquire(acquiring(keys, "s2"))).granted).toBe(true);
  });

  it("a renewal counts from the moment it is applied, to the millisecond", async () => {
    const clock = startClock();
    const instance = make(clock);
    grantedFence(await instance.acquire(acquiring(keys, "s1", { ttlMs: 1000 })));
    clock.advance(900);
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 5000 }])).toEqual([true]);
    clock.advance(4999);
    expect(await instance.acquire(acquiring(keys, "s2"))).toEqual({ granted: false, holderTtlMs: 1 });
    clock.advance(1);
    expect(await instance.extend([{ lockKey: keys.lock, secret: "s1", ttlMs: 5000 }])).toEqual([false]);
  });
});
