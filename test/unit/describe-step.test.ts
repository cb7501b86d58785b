import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LockEngine } from "../../src/engine/lock-engine.ts";
import { engineTestOptions } from "./support/engine-options.ts";
import { fakeInstances } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { expectLockError } from "./support/lock-error.ts";
import { ManualClock } from "./support/manual-clock.ts";
import { ScriptedRandomness } from "./support/scripted-randomness.ts";

const OPTIONS = engineTestOptions("test:");
const NAME = "job";
const LOCK = "test:lock:job";
const TTL = 1000;

function setup() {
  const clock = new ManualClock();
  const time = new FakeTime(clock);
  const fakes = fakeInstances(3, clock, { fenceStart: 100n });
  const engine = new LockEngine(fakes, OPTIONS, { clock, randomness: new ScriptedRandomness("lease", 0.5) });
  return { clock, time, fakes, engine };
}

beforeEach(() => FakeTime.install());
afterEach(() => vi.useRealTimers());

describe("LockEngine.describe: a lock as a majority of instances sees it", () => {
  it("free: nobody named, every instance agreeing", async () => {
    const { time, engine } = setup();
    expect(await time.settle(engine.describe(NAME))).toEqual({
      held: false,
      owner: "",
      fencingToken: undefined,
      heldSinceWallMs: undefined,
      remainingMs: undefined,
      waitingTickets: 0,
      waitingHere: 0,
      instances: 3,
      answered: 3,
      agreeing: 3,
    });
  });

  it("held: the owner given to acquire, the lease's token, when it was granted and the TTL left", async () => {
    const { clock, time, engine } = setup();
    const grantedAtWallMs = Math.floor(clock.wallMs());
    const result = await time.settle(engine.acquire(NAME, TTL, 0, undefined, "report job 7"));
    if (!result.acquired) return expect.fail("not acquired");
    await time.elapse(300);
    const description = await time.settle(engine.describe(NAME));
    expect(description).toMatchObject({
      held: true,
      owner: "report job 7",
      fencingToken: result.lease.fencingToken,
      heldSinceWallMs: grantedAtWallMs,
      answered: 3,
      agreeing: 3,
    });
    expect(description.remainingMs).toBe(TTL - 300);
  });

  it("one instance failing: the other two still answer; two failing: unavailable, naming the lock", async () => {
    const { time, fakes, engine } = setup();
    await time.settle(engine.acquire(NAME, TTL, 0, undefined, "me"));
    fakes[0]!.behave("fail", "readLock");
    expect(await time.settle(engine.describe(NAME))).toMatchObject({ held: true, owner: "me", answered: 2 });
    fakes[1]!.behave("hang", "readLock");
    const error = expectLockError(await time.rejection(engine.describe(NAME)), "unavailable");
    expect(error.message).toBe('lock "job": only 1 of 3 instances answered (need 2); it could not be described');
    expect(error.metadata).toEqual({ lock: NAME });
  });

  it("a key one instance kept after a rolled-back grant does not make the lock held", async () => {
    const { time, fakes, engine } = setup();
    fakes[2]!.put(LOCK, "someone 5 stale owner", 5000);
    expect(await time.settle(engine.describe(NAME))).toMatchObject({ held: false, agreeing: 2 });
    fakes[1]!.behave("fail", "readLock");
    const error = expectLockError(await time.rejection(engine.describe(NAME)), "unavailable");
    expect(error.message).toMatch(/2 of 3 instances answered but no 2 agree \(1 hold it, 1 have it free\)/);
  });

  it("extend keeps the owner; a handover records the next caller's; waiters are counted", async () => {
    const { time, fakes, engine } = setup();
    const first = await time.settle(engine.acquire(NAME, 10_000, 0, undefined, "first"));
    if (!first.acquired) return expect.fail("not acquired");
    const extended = await time.settle(engine.extend(NAME, first.lease.id, 20_000));
    expect(extended.owner).toBe("first");
    expect(await time.settle(engine.describe(NAME))).toMatchObject({ owner: "first", waitingHere: 0 });

    const next = engine.acquire(NAME, TTL, 5000, undefined, "second");
    await time.elapse(50);
    // The waiting head registered its ticket on every instance when it was refused.
    expect(await time.settle(engine.describe(NAME))).toMatchObject({
      owner: "first",
      waitingTickets: 1,
      waitingHere: 1,
    });
    expect(await time.settle(engine.release(NAME, first.lease.id))).toBe(true);
    const handed = await time.settle(next);
    if (!handed.acquired) return expect.fail("the waiter was not handed the lock");
    expect(fakes.every((f) => f.callsOf("handover").length === 1)).toBe(true);
    expect(handed.lease.owner).toBe("second");
    expect(await time.settle(engine.describe(NAME))).toMatchObject({
      owner: "second",
      fencingToken: handed.lease.fencingToken,
      waitingTickets: 0,
      waitingHere: 0,
    });
  });
});
