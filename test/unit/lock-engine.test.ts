import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LockEngine } from "../../src/engine/lock-engine.ts";
import type { Lease } from "../../src/engine/lease.ts";
import { parseLeaseId } from "../../src/engine/lease-id.ts";
import { LockError } from "../../src/errors/lock-error.ts";
import type { InstanceAcquire } from "../../src/instances/lock-instance.ts";
import { fakeInstances, type Behaviour, type FakeInstance } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { expectLockError, thrownBy } from "./support/lock-error.ts";
import { ManualClock } from "./support/manual-clock.ts";
import { engineTestOptions } from "./support/engine-options.ts";
import { ScriptedRandomness } from "./support/scripted-randomness.ts";
import { subsets } from "./support/subsets.ts";

const OPTIONS = engineTestOptions("test:");
const NAME = "job";
// keys.ts: `${prefix}<kind>:${name}`.
const LOCK = "test:lock:job";
const FENCE = "test:fence:job";
const QUEUE = "test:queue:job";
const CHANNEL = "test:released:job";
const TTL = 1000;
const DRIFT = 12; // floor(1000 / 100) + 2
/** retryDelayMs + unit() * retryJitterMs with unit() = 0.5. */
const PAUSE = 15;
const QUORUM: Record<number, number> = { 1: 1, 3: 2, 5: 3 };

function setup(n: number, callLimit?: number) {
  const clock = new ManualClock();
  const time = new FakeTime(clock);
  const fakes = fakeInstances(
    n,
    clock,
    callLimit === undefined ? { fenceStart: 100n } : { fenceStart: 100n, callLimit },
  );
  const random = new ScriptedRandomness("lease", 0.5);
  const engine = new LockEngine(fakes, OPTIONS, { clock, randomness: random });
  /** Another sidecar on the same instances. */
  const peer = (prefix: string): { engine: LockEngine; random: ScriptedRandomness } => {
    const peerRandom = new ScriptedRandomness(prefix, 0.5);
    return { engine: new LockEngine(fakes, OPTIONS, { clock, randomness: peerRandom }), random: peerRandom };
  };
  const acquireNow = async (ttlMs = TTL, on: LockEngine = engine, name = NAME): Promise<Lease> => {
    const result = await time.settle(on.acquire(name, ttlMs, 0));
    if (!result.acquired) throw new Error(`expected a grant, got ${JSON.stringify(result)}`);
    return result.lease;
  };
  return { clock, time, fakes, random, engine, peer, acquireNow };
}

function acquireRequests(fake: FakeInstance): InstanceAcquire[] {
  return fake.callsOf("acquire").map((c) => c.args[0] as InstanceAcquire);
}

/** When acquires with secrets from `prefix` reached the fake: attempts, and handovers from local releases. */
function attemptTimes(fake: FakeInstance, prefix: string, since: number): number[] {
  return fake.calls
    .flatMap((c) =>
      c.method === "acquire" ? [{ c, r: c.args[0] }] : c.method === "handover" ? [{ c, r: c.args[1] }] : [],
    )
    .filter(({ r }) => ScriptedRandomness.owns(prefix, (r as InstanceAcquire).secret))
    .map(({ c }) => c.atMs - since);
}

/** The ticket format of local-queue.ts: waiter's start on the wall clock, zero-padded, then random bits. */
function expectedTicket(wallMs: number, random: string): string {
  return `${String(Math.floor(wallMs)).padStart(15, "0")}-${random.slice(0, 12)}`;
}

function releaseSecrets(fake: FakeInstance): unknown[] {
  return fake.callsOf("release").map((c) => c.args[1]);
}

beforeEach(() => FakeTime.install());
afterEach(() => {
  vi.useRealTimers();
});

describe("LockEngine construction", () => {
  it("refuses an empty instance list", () => {
    expect(() => new LockEngine([], OPTIONS)).toThrow(RangeError);
  });

  it.each([
    [1, 1],
    [3, 2],
    [5, 3],
  ])("N=%i: quorum %i", (n, q) => {
    expect(setup(n).engine.quorum).toBe(q);
  });
});

describe.each([3, 5])("acquire with N=%i", (n) => {
  const q = QUORUM[n]!;
  const minorities = subsets(n).filter((s) => s.length <= n - q);
  const majorities = subsets(n).filter((s) => s.length > n - q);
  const modes: Behaviour[] = ["fail", "lose-reply", "hang"];

  describe.each(modes)("failing instances %s", (mode) => {
    it.each(minorities.map((s) => [s.join(",") || "none", s] as const))(
      "grants with failed {%s}",
      async (_label, failed) => {
        const { clock, time, fakes, random, engine } = setup(n);
        for (const i of failed) fakes[i]!.behave(mode);
        const startMs = clock.monotonicMs();
        const startWallMs = Math.floor(clock.wallMs());

        const result = await time.settle(engine.acquire(NAME, TTL, 0, undefined, "job runner"));

        // A majority's grants suffice: a hanging instance is not waited for.
        const secret = random.secrets[0]!;
        const lease: Lease = {
          name: NAME,
          leaseId: `${secret}.100`,
          id: parseLeaseId(`${secret}.100`),
          fencingToken: 100n,
          ttlMs: TTL,
          endMs: startMs + TTL - DRIFT,
          owner: "job runner",
          acquiredAtWallMs: startWallMs,
          // A majority answers at once here: granted when it started.
          grantedMs: startMs,
        };
        expect(result).toEqual({ acquired: true, lease });
        expect(random.secrets).toHaveLength(1);
        expect(engine.leases.get(lease.leaseId)).toEqual(lease);
        fakes.forEach((fake, i) => {
          // The SET landed where the instance answered, and where only the reply was lost.
          const landed = !failed.includes(i) || mode === "lose-reply";
          expect(fake.valueAt(LOCK), fake.name).toBe(landed ? secret : undefined);
          // The owner is recorded with the lock, never in place of the secret.
          expect(fake.holderAt(LOCK), fake.name).toEqual(
            landed ? { owner: "job runner", sinceMs: startWallMs } : undefined,
          );
          expect(fake.callsOf("acquire"), fake.name).toHaveLength(1);
          expect(fake.callsOf("release"), fake.name).toHaveLength(0);
        });
      },
    );

    it.each(majorities.map((s) => [s.join(","), s] as const))(
      "failed {%s}: unavailable, rolled back on every instance",
      async (_label, failed) => {
        const { time, fakes, random, engine } = setup(n);
        for (const i of failed) fakes[i]!.behave(mode);

        const error = await time.rejection(engine.acquire(NAME, TTL, 0));

        const lockError = expectLockError(error, "unavailable");
        expect(lockError.message).toContain(`only ${n - failed.length} of ${n} instances answered (need ${q})`);
        const secret = random.secrets[0]!;
        for (const fake of fakes) {
          expect(acquireRequests(fake).map((r) => r.secret)).toEqual([secret]);
          // Released everywhere (no instance answered "held"), also where the
          // call failed: the SET may have landed.
          expect(releaseSecrets(fake), fake.name).toEqual([secret]);
          expect(fake.valueAt(LOCK), fake.name).toBeUndefined();
        }
        expect(engine.leases.size).toBe(0);
      },
    );
  });
});

describe("acquire: contention", () => {
  it("held elsewhere: acquired false with the holder's remaining TTL, holder untouched", async () => {
    const { clock, time, fakes, engine, peer, acquireNow } = setup(3);
    const holder = peer("holder");
    const held = await acquireNow(TTL, holder.engine);
    clock.advance(300);

    const result = await time.settle(engine.acquire(NAME, TTL, 0));

    expect(result).toEqual({ acquired: false, retryAfterMs: TTL - 300 });
    const holderSecret = held.leaseId.split(".")[0];
    for (const fake of fakes) {
      expect(fake.valueAt(LOCK)).toBe(holderSecret);
      expect(fake.ttlOf(LOCK)).toBe(TTL - 300);
      // Every instance answered "held": our key cannot be anywhere, nothing to roll back.
      expect(fake.callsOf("release")).toHaveLength(0);
    }
  });

  it("a partial grant is rolled back wherever our key may be: where granted and where the reply was lost", async () => {
    const { time, fakes, random, engine } = setup(5);
    for (const fake of fakes.slice(0, 3)) fake.put(LOCK, "someone-else-000000", 5000);
    fakes[4]!.behave("lose-reply");

    const result = await time.settle(engine.acquire(NAME, TTL, 0));

    // 1 granted + 3 held answered (4 >= 3) but 1 < 3 granted: contention.
    expect(result.acquired).toBe(false);
    const secret = random.secrets[0]!;
    expect(fakes.map((f) => releaseSecrets(f))).toEqual([[], [], [], [secret], [secret]]);
    // A contended rollback announces nothing: the lock is still held.
    for (const fake of fakes.slice(3)) expect(fake.callsOf("release")[0]!.args[2]).toBeUndefined();
    expect(fakes.map((f) => f.valueAt(LOCK))).toEqual([
      "someone-else-000000",
      "someone-else-000000",
      "someone-else-000000",
      undefined,
      undefined,
    ]);
  });

  // Regression: a holder with a majority that lacks its key on a minority is
  // not a split vote; waiters must wait for the holder, not poll every few ms.
  it("a holder with a majority: a caller that got a minority grant is told the holder's remaining TTL", async () => {
    const { time, fakes, engine } = setup(5);
    for (const fake of fakes.slice(0, 3)) fake.put(LOCK, "someone-else-000000", 5000);
    expect(await time.settle(engine.acquire(NAME, TTL, 0))).toEqual({ acquired: false, retryAfterMs: 5000 });
  });

  it("a holder with a majority: a waiter still pauses the retry delay between attempts", async () => {
    const { clock, time, fakes, engine } = setup(3);
    fakes[0]!.put(LOCK, "someone-else-000000", 5000);
    fakes[1]!.put(LOCK, "someone-else-000000", 5000);
    const t0 = clock.monotonicMs();
    void engine.acquire(NAME, TTL, 5000).catch(() => undefined);
    await time.elapse(100);
    // 0, 0 (new subscription), then every 15 ms: 8 attempts in 100 ms, not 23.
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 15, 30, 45, 60, 75, 90]);
  });

  it("after a contended attempt nothing of the attempt is left", async () => {
    const { time, fakes, engine, peer, acquireNow } = setup(3);
    await acquireNow(TTL, peer("holder").engine);
    await time.settle(engine.acquire(NAME, TTL, 0));
    expect(engine.leases.size).toBe(0);
    for (const fake of fakes) expect(fake.keys().sort()).toEqual([FENCE, LOCK]);
  });
});

describe("acquire: validity", () => {
  /** Makes every acquire call take `ms` of (simulated) time before it lands. */
  function slowAcquire(fakes: FakeInstance[], clock: ManualClock, ms: readonly number[]): void {
    fakes.forEach((fake, i) => {
      fake.onCall = (call) => {
        if (call.method === "acquire") clock.advance(ms[i]!);
      };
    });
  }

  it("a grant whose elapsed time leaves no validity is not granted and is rolled back", async () => {
    const { clock, time, fakes, random, engine } = setup(3);
    slowAcquire(fakes, clock, [200, 200, 200]);

    const error = await time.rejection(engine.acquire(NAME, TTL, 0));

    expect(expectLockError(error, "unavailable").message).toContain("took 600 ms");
    for (const fake of fakes) {
      expect(releaseSecrets(fake)).toEqual([random.secrets[0]]);
      expect(fake.valueAt(LOCK)).toBeUndefined();
    }
    expect(engine.leases.size).toBe(0);
  });

  // ttl 1000, drift 12: valid iff 1000 - 12 > 2 * elapsed, i.e. elapsed <= 493.
  it("elapsed 493 ms of 1000: still granted, lease ends at start + 1000 - 493 - 12", async () => {
    const { clock, time, fakes, engine } = setup(3);
    const startMs = clock.monotonicMs();
    slowAcquire(fakes, clock, [164, 164, 165]);
    const result = await time.settle(engine.acquire(NAME, TTL, 0));
    expect(result).toMatchObject({ acquired: true, lease: { endMs: startMs + TTL - 493 - DRIFT } });
    for (const fake of fakes) expect(fake.callsOf("release")).toHaveLength(0);
  });

  it("elapsed 494 ms of 1000: too slow", async () => {
    const { clock, time, fakes, engine } = setup(3);
    slowAcquire(fakes, clock, [164, 165, 165]);
    const error = await time.rejection(engine.acquire(NAME, TTL, 0));
    expect(expectLockError(error, "unavailable").message).toContain("took 494 ms");
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeUndefined();
  });
});

describe("acquire: fencing tokens", () => {
  it("when counters disagree, the raise goes to the highest of all instances, the slowest included", async () => {
    const { time, fakes, engine } = setup(3);
    fakes[0]!.put(FENCE, "100", undefined);
    fakes[1]!.put(FENCE, "150", undefined);
    fakes[2]!.put(FENCE, "200", undefined);
    fakes[2]!.behave("gate", "acquire"); // i0 and i1 grant first, and disagree
    const pending = engine.acquire(NAME, TTL, 0);
    await time.flush();
    fakes[2]!.behave("answer");
    fakes[2]!.openGate();
    const result = await time.settle(pending);
    if (!result.acquired) return expect.fail("not granted");
    expect(result.lease.fencingToken).toBe(201n);
    expect(fakes.map((f) => f.fenceOf(FENCE))).toEqual([201n, 201n, 201n]);
  });

  it("strictly increase across acquisitions while different minorities fail", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(5);
    const failing = [[0, 1], [2, 3], [4], [], [1, 4], [0, 2], [3], [0, 1], [2, 4], [1, 3], [0], [3, 4]];
    const modes: Behaviour[] = ["fail", "lose-reply", "hang"];
    const tokens: bigint[] = [];
    for (const [round, failed] of failing.entries()) {
      for (const fake of fakes) fake.behave("answer");
      for (const i of failed) fakes[i]!.behave(modes[round % modes.length]!);
      const lease = await acquireNow();
      tokens.push(lease.fencingToken);
      // End the lease: released on odd rounds, left to expire on even ones.
      if (round % 2 === 1) expect(await time.settle(engine.release(NAME, lease.id))).toBe(true);
      else clock.advance(TTL);
    }
    for (let i = 1; i < tokens.length; i++)
      expect(tokens[i]!, `round ${i}: ${tokens.join(",")}`).toBeGreaterThan(tokens[i - 1]!);
    // The scenario must have exercised the raise path.
    expect(fakes.some((f) => f.callsOf("raiseFence").length > 0)).toBe(true);
  });

  it("when fewer than a quorum of granting counters hold the max, the counter is raised so a later majority sees a larger token", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    fakes[0]!.put(FENCE, "500", 60_000);

    const first = await acquireNow();

    // Counters after the grant: 501, 100, 100. Only one is at 501 < quorum 2.
    expect(first.fencingToken).toBe(501n);
    for (const fake of fakes) {
      expect(fake.callsOf("raiseFence").map((c) => c.args)).toEqual([[FENCE, 501n, OPTIONS.fenceRetentionMs]]);
      expect(fake.fenceOf(FENCE)).toBe(501n);
    }
    await time.settle(engine.release(NAME, first.id));

    // The instance that had the high counter is now down: the other two
    // must still hand out a larger token (without the raise: 101).
    fakes[0]!.behave("fail");
    const second = await acquireNow();
    expect(second.fencingToken).toBe(502n);
  });

  it("no raise when a quorum of granting counters already hold the max", async () => {
    const { fakes, acquireNow } = setup(3);
    fakes[0]!.put(FENCE, "500", 60_000);
    fakes[1]!.put(FENCE, "500", 60_000);
    const lease = await acquireNow();
    expect(lease.fencingToken).toBe(501n);
    for (const fake of fakes) expect(fake.callsOf("raiseFence")).toHaveLength(0);
  });

  it("a raise that a majority does not confirm: unavailable, rolled back", async () => {
    const { time, fakes, random, engine } = setup(3);
    fakes[0]!.put(FENCE, "500", 60_000);
    fakes[1]!.behave("fail", "raiseFence");
    fakes[2]!.behave("hang", "raiseFence");

    const error = await time.rejection(engine.acquire(NAME, TTL, 0));

    expectLockError(error, "unavailable");
    for (const fake of fakes) {
      expect(releaseSecrets(fake)).toEqual([random.secrets[0]]);
      expect(fake.valueAt(LOCK)).toBeUndefined();
    }
    expect(engine.leases.size).toBe(0);
  });

  it("a raise that takes the lease past its validity: unavailable, rolled back", async () => {
    const { clock, time, fakes, engine } = setup(3);
    fakes[0]!.put(FENCE, "500", 60_000);
    fakes[0]!.onCall = (call) => {
      if (call.method === "raiseFence") clock.advance(494);
    };
    const error = await time.rejection(engine.acquire(NAME, TTL, 0));
    expect(expectLockError(error, "unavailable").message).toContain("took 494 ms");
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeUndefined();
  });

  it("a lease granted after a raise still ends no later than start + ttl - drift and after the answer", async () => {
    const { clock, time, fakes, engine } = setup(3);
    const startMs = clock.monotonicMs();
    fakes[0]!.put(FENCE, "500", 60_000);
    fakes[0]!.onCall = (call) => {
      if (call.method === "raiseFence") clock.advance(300);
    };
    const result = await time.settle(engine.acquire(NAME, TTL, 0));
    if (!result.acquired) return expect.fail("not acquired");
    expect(result.lease.endMs).toBeLessThanOrEqual(startMs + TTL - DRIFT);
    expect(result.lease.endMs).toBeGreaterThan(clock.monotonicMs());
  });
});

describe("acquire: abort", () => {
  it("an abort during the attempt rolls back on every instance and throws the signal's reason", async () => {
    const { time, fakes, random, engine } = setup(3);
    const controller = new AbortController();
    const reason = new LockError("deadline-exceeded", "deadline passed");
    fakes[1]!.onCall = (call) => {
      if (call.method === "acquire") controller.abort(reason);
    };

    const error = await time.rejection(engine.acquire(NAME, TTL, 5000, controller.signal));

    expect(error).toBe(reason);
    const [request, ...more] = acquireRequests(fakes[0]!);
    expect(more).toEqual([]); // no second attempt
    const secret = request!.secret;
    expect(random.secrets).toContain(secret);
    for (const fake of fakes) {
      expect(releaseSecrets(fake)).toEqual([secret]);
      expect(fake.valueAt(LOCK)).toBeUndefined();
    }
    expect(engine.leases.size).toBe(0);
  });

  it("an abort during an attempt that needs a raise skips the raise", async () => {
    const { time, fakes, engine } = setup(3);
    fakes[0]!.put(FENCE, "500", 60_000);
    const controller = new AbortController();
    fakes[2]!.onCall = (call) => {
      if (call.method === "acquire") controller.abort(new LockError("cancelled", "gone"));
    };
    expectLockError(await time.rejection(engine.acquire(NAME, TTL, 0, controller.signal)), "cancelled");
    for (const fake of fakes) {
      expect(fake.callsOf("raiseFence")).toHaveLength(0);
      expect(fake.valueAt(LOCK)).toBeUndefined();
    }
  });

  it("a reason that is not a LockError becomes LockError cancelled", async () => {
    const { time, fakes, engine } = setup(3);
    const controller = new AbortController();
    fakes[0]!.onCall = () => controller.abort(new Error("something else"));
    expectLockError(await time.rejection(engine.acquire(NAME, TTL, 0, controller.signal)), "cancelled");
  });

  it("an already aborted signal throws before any instance is called", async () => {
    const { time, fakes, engine } = setup(3);
    const reason = new LockError("shutting-down", "bye");
    const error = await time.rejection(engine.acquire(NAME, TTL, 0, AbortSignal.abort(reason)));
    expect(error).toBe(reason);
    for (const fake of fakes) expect(fake.calls).toHaveLength(0);
  });

  it("an abort during the pause between attempts stops waiting at once", async () => {
    const { clock, time, fakes, engine, peer, acquireNow } = setup(3);
    await acquireNow(10_000, peer("holder").engine);
    const controller = new AbortController();
    const t0 = clock.monotonicMs();
    const waiting = engine.acquire(NAME, TTL, 5000, controller.signal);
    await time.elapse(20); // attempts at 0, 0 and 15
    const reason = new LockError("cancelled", "client cancelled");
    controller.abort(reason);

    expect(await time.rejection(waiting, 1)).toBe(reason);
    await time.elapse(100);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, PAUSE]);
  });
});

describe("acquire: waiting", () => {
  // A waiter attempts at once; after the first refusal it subscribes to
  // release notices and, the subscription being new, looks again at once
  // (a release just before the subscription went unannounced). Then it
  // sleeps until a notice, the holder's TTL, or the fallback pause.

  it("retries every retryDelay + jitter and, on the holder's release notice, at once", async () => {
    const { clock, time, fakes, engine, peer, acquireNow } = setup(3);
    const holder = peer("holder");
    const held = await acquireNow(10_000, holder.engine);
    const t0 = clock.monotonicMs();
    const waiting = engine.acquire(NAME, TTL, 5000);

    await time.elapse(100);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 15, 30, 45, 60, 75, 90]);
    for (const fake of fakes) expect(fake.watcherCount(CHANNEL)).toBe(1);
    // The other sidecar releases at 100; its release script announces it,
    // tagged with the lease's fencing token.
    expect(await time.settle(holder.engine.release(NAME, held.id))).toBe(true);
    for (const fake of fakes) {
      expect(fake.callsOf("release").at(-1)?.args).toEqual([
        LOCK,
        held.leaseId.split(".")[0],
        { channel: CHANNEL, tag: held.fencingToken.toString(), queueKey: QUEUE },
      ]);
    }

    const result = await time.settle(waiting);
    expect(result).toMatchObject({ acquired: true, lease: { endMs: t0 + 100 + TTL - DRIFT } });
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 15, 30, 45, 60, 75, 90, 100]);
  });

  it("a release notice names the waiter who goes next: only that sidecar's waiter wakes", async () => {
    const { clock, time, fakes, engine, peer, acquireNow } = setup(3);
    const holder = peer("holder").engine;
    const held = await acquireNow(10_000, holder);
    const t0 = clock.monotonicMs();
    const first = engine.acquire(NAME, TTL, 5000); // the older ticket
    await time.elapse(5);
    const other = peer("other");
    const second = other.engine.acquire(NAME, TTL, 5000);
    await time.elapse(5); // first: attempts at 0, 0, next at 15; second: 5, 5, next at 20
    expect(attemptTimes(fakes[0]!, "other", t0)).toEqual([5, 5]);

    await time.settle(holder.release(NAME, held.id));
    expect((await time.settle(first)).acquired).toBe(true);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 10]); // woken by the notice at 10
    expect(attemptTimes(fakes[0]!, "other", t0)).toEqual([5, 5]); // not woken: the notice named the other ticket
    await time.elapse(12);
    expect(attemptTimes(fakes[0]!, "other", t0)).toEqual([5, 5, 20]); // its own fallback
    void second.catch(() => undefined);
  });

  it("a release through this same engine wakes its waiter without a notice from the instances", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    for (const fake of fakes) fake.behave("fail", "watchReleases"); // no subscriptions
    const held = await acquireNow(10_000);
    const t0 = clock.monotonicMs();
    const waiting = engine.acquire(NAME, TTL, 5000);
    await time.elapse(20);
    expect(await time.settle(engine.release(NAME, held.id))).toBe(true);
    expect((await time.settle(waiting)).acquired).toBe(true);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 0, 15, 20]); // the first 0: the holder's grant
  });

  it("copies of one release notice wake the waiter once per attempt", async () => {
    const { clock, time, fakes, engine, peer, acquireNow } = setup(3);
    const held = await acquireNow(10_000, peer("holder").engine);
    const t0 = clock.monotonicMs();
    void engine.acquire(NAME, TTL, 5000).catch(() => undefined);
    await time.elapse(5); // attempts at 0, 0; next at 15
    // Copies of one notice from the three instances, all before the next
    // attempt starts (the lock stays held, say a stale notice): one wake.
    const tag = held.fencingToken.toString();
    for (const fake of fakes) fake.publish(CHANNEL, tag);
    await time.elapse(1);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 5]);
    // A copy arriving after that attempt began may come from an instance the
    // attempt reached before the release did: it wakes the waiter again.
    fakes[1]!.publish(CHANNEL, tag);
    await time.elapse(1);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 5, 6]);
    // A notice with another tag wakes it too.
    fakes[0]!.publish(CHANNEL, "another-release");
    await time.elapse(1);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 5, 6, 7]);
  });

  it.each([
    [0, 10],
    [0.9, 19],
  ])("jitter unit %d: attempts %i ms apart", async (unit, pause) => {
    const { clock, time, fakes, random, engine, peer, acquireNow } = setup(3);
    random.jitterUnit = unit;
    await acquireNow(10_000, peer("holder").engine);
    const t0 = clock.monotonicMs();
    void engine.acquire(NAME, TTL, 5000).catch(() => undefined);
    await time.elapse(3 * pause);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, pause, 2 * pause, 3 * pause]);
  });

  it("the fallback pause is at most a third of the waiting ticket's TTL, so the ticket is refreshed in time", async () => {
    const { clock, time, fakes, random, peer, acquireNow } = setup(3);
    random.jitterUnit = 0.9; // 10 + 9 = 19 ms, above 45 / 3 = 15
    const tight = new LockEngine(fakes, { ...OPTIONS, waitTicketTtlMs: 45 }, { clock, randomness: random });
    await acquireNow(10_000, peer("holder").engine);
    const t0 = clock.monotonicMs();
    void tight.acquire(NAME, TTL, 5000).catch(() => undefined);
    await time.elapse(45);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 15, 30, 45]);
  });

  it("does not pause past the holder's TTL: retries at retryAfter + 1", async () => {
    const { clock, time, fakes, engine } = setup(3);
    for (const fake of fakes) fake.put(LOCK, "short-holder-000000", 7);
    const t0 = clock.monotonicMs();
    const result = await time.settle(engine.acquire(NAME, TTL, 5000));
    expect(result.acquired).toBe(true);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 8]);
  });

  it("gives up when the wait is over: acquired false with the holder's TTL at the last attempt, ticket withdrawn", async () => {
    const { clock, time, fakes, random, engine, peer, acquireNow } = setup(3);
    await acquireNow(10_000, peer("holder").engine);
    const t0 = clock.monotonicMs();
    const startWallMs = clock.wallMs();
    const result = await time.settle(engine.acquire(NAME, TTL, 50));
    // Attempts at 0, 0, 15, 30, 45, then the pause is cut to the 5 ms left.
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 15, 30, 45, 50]);
    expect(result).toEqual({ acquired: false, retryAfterMs: 10_000 - 50 });
    await time.flush();
    // The ticket is made at the first attempt, from the first random draw.
    const ticket = expectedTicket(startWallMs, random.secrets[0]!);
    for (const fake of fakes) {
      const mine = acquireRequests(fake).filter((r) => ScriptedRandomness.owns("lease", r.secret));
      expect(mine.map((r) => [r.ticket, r.ticketTtlMs])).toEqual(Array(6).fill([ticket, OPTIONS.waitTicketTtlMs]));
      expect(fake.callsOf("withdrawTicket").map((c) => c.args)).toEqual([[QUEUE, ticket]]);
      expect(fake.ticketsOf(QUEUE)).toEqual([]);
    }
  });

  it("a waiter's grant withdraws its ticket where an instance did not grant, once that instance answered", async () => {
    const { time, fakes, engine } = setup(3);
    fakes[2]!.behave("gate", "acquire"); // still out when i0 and i1 have granted
    const result = await time.settle(engine.acquire(NAME, TTL, 5000));
    expect(result.acquired).toBe(true); // a majority: i2 was not waited for
    await time.flush(); // no time passes: i2 is still out
    for (const fake of fakes) expect(fake.callsOf("withdrawTicket")).toHaveLength(0);
    fakes[2]!.put(LOCK, "someone-else-000000", 5000); // i2 will refuse, keeping the ticket
    fakes[2]!.openGate();
    await time.flush();
    expect(fakes.map((f) => f.callsOf("withdrawTicket").length)).toEqual([0, 0, 1]);
    expect(fakes.map((f) => f.ticketsOf(QUEUE))).toEqual([[], [], []]);
  });

  it("a contended attempt's rollback announces nothing; a release does", async () => {
    const { time, fakes, engine, peer, acquireNow } = setup(3);
    fakes[0]!.put(LOCK, "someone-else-000000", 5000);
    fakes[1]!.put(LOCK, "someone-else-000000", 5000);
    await time.settle(engine.acquire(NAME, TTL, 0)); // granted on i2 only, rolled back there
    expect(fakes[2]!.callsOf("release").map((c) => c.args[2])).toEqual([undefined]);
    for (const fake of fakes) fake.drop(LOCK);
    const lease = await acquireNow(TTL, peer("other").engine);
    await time.settle(engine.release(NAME, lease.id));
    expect(fakes[2]!.callsOf("release").map((c) => c.args[2])).toEqual([
      undefined,
      { channel: CHANNEL, tag: lease.fencingToken.toString(), queueKey: QUEUE },
    ]);
  });

  // Regression: rolling back an unavailable attempt must not announce a
  // release (it would wake this waiter, and others, into a tight retry loop).
  it("while a majority is unreachable, a waiter still pauses between attempts", async () => {
    const { clock, time, fakes, engine } = setup(3, 400);
    fakes[0]!.behave("fail");
    fakes[1]!.behave("fail");
    const t0 = clock.monotonicMs();
    void engine.acquire(NAME, TTL, 1000).catch(() => undefined);
    await time.elapse(45);
    expect(attemptTimes(fakes[2]!, "lease", t0)).toEqual([0, 0, 15, 30, 45]);
  });

  it("while a majority hangs, a waiter keeps trying and acquires once it is back", async () => {
    // Hanging instances cost the 20 ms timeout per call, so this terminates
    // even with the self-wake above; it checks the outcome, not the pacing.
    const { time, fakes, engine } = setup(3);
    fakes[0]!.behave("hang");
    fakes[1]!.behave("hang");
    const waiting = engine.acquire(NAME, TTL, 1000);
    await time.elapse(100);
    fakes[0]!.behave("answer");
    fakes[1]!.behave("answer");
    expect((await time.settle(waiting)).acquired).toBe(true);
  });

  it("a majority still unreachable when the wait ends: unavailable, not acquired false", async () => {
    const { time, fakes, engine } = setup(3);
    fakes[0]!.behave("hang");
    fakes[1]!.behave("hang");
    const error = await time.rejection(engine.acquire(NAME, TTL, 100));
    expect(expectLockError(error, "unavailable").message).toContain("only 1 of 3 instances answered (need 2)");
  });
});

describe("acquire: local queue and waiting tickets", () => {
  it("local waiters get the lock in arrival order, and only the head contends", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const t0 = clock.monotonicMs();
    const order: string[] = [];
    const waiters = ["first", "second", "third"].map((who) =>
      engine.acquire(NAME, TTL, 5000).then((r) => {
        order.push(who);
        return r;
      }),
    );
    await time.elapse(100);
    // After the holder's grant at 0, one waiter's worth of attempts: 0, 0, 15, ..., 90.
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 0, 15, 30, 45, 60, 75, 90]);

    await time.settle(engine.release(NAME, held.id));
    const first = await time.settle(waiters[0]!);
    expect(order).toEqual(["first"]);
    if (!first.acquired) return expect.fail("first waiter not granted");
    await time.settle(engine.release(NAME, first.lease.id));
    const second = await time.settle(waiters[1]!);
    if (!second.acquired) return expect.fail("second waiter not granted");
    await time.settle(engine.release(NAME, second.lease.id));
    expect((await time.settle(waiters[2]!)).acquired).toBe(true);
    expect(order).toEqual(["first", "second", "third"]);
  });

  it("the head after a local grant waits for that caller's release before its first attempt", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const first = engine.acquire(NAME, TTL, 5000);
    const second = engine.acquire(NAME, TTL, 5000);
    await time.elapse(3);
    await time.settle(engine.release(NAME, held.id));
    const granted = await time.settle(first);
    if (!granted.acquired) return expect.fail("first waiter not granted");
    const grantedAt = clock.monotonicMs();
    const attemptsAtGrant = attemptTimes(fakes[0]!, "lease", 0).length;
    await time.elapse(5);
    expect(attemptTimes(fakes[0]!, "lease", 0)).toHaveLength(attemptsAtGrant); // no attempt against our own holder
    await time.settle(engine.release(NAME, granted.lease.id));
    expect((await time.settle(second)).acquired).toBe(true);
    expect(attemptTimes(fakes[0]!, "lease", grantedAt).slice(attemptsAtGrant)).toEqual([5]);
  });

  it("without a wait, a caller does not jump a local queue: acquired false from the head's recent attempt, without asking the instances", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    await acquireNow(10_000);
    const waiting = engine.acquire(NAME, TTL, 5000);
    await time.elapse(5);
    const callsBefore = fakes.map((f) => f.calls.length);
    // The head saw the holder's 10 s at 0.
    expect(await time.settle(engine.acquire(NAME, TTL, 0))).toEqual({ acquired: false, retryAfterMs: 10_000 - 5 });
    expect(fakes.map((f) => f.calls.length)).toEqual(callsBefore);
    void waiting.catch(() => undefined);
  });

  it("a queued waiter whose wait ends before its turn: acquired false, with the holder's TTL from the head's attempts", async () => {
    const { time, engine, acquireNow } = setup(3);
    await acquireNow(10_000);
    const head = engine.acquire(NAME, TTL, 5000);
    const behind = engine.acquire(NAME, TTL, 30);
    expect(await time.settle(behind)).toEqual({ acquired: false, retryAfterMs: 10_000 - 30 });
    void head.catch(() => undefined);
  });

  it("aborting a queued waiter throws its reason and leaves the head waiting", async () => {
    const { time, engine, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const head = engine.acquire(NAME, TTL, 5000);
    const controller = new AbortController();
    const behind = engine.acquire(NAME, TTL, 5000, controller.signal);
    await time.elapse(10);
    const reason = new LockError("cancelled", "bye");
    controller.abort(reason);
    expect(await time.rejection(behind, 1)).toBe(reason);
    await time.settle(engine.release(NAME, held.id));
    expect((await time.settle(head)).acquired).toBe(true);
  });

  it("another sidecar's newcomer cannot take a free lock while an older waiting ticket is live", async () => {
    const { clock, time, fakes, random, engine, peer, acquireNow } = setup(3);
    for (const fake of fakes) fake.behave("fail", "watchReleases"); // the waiter polls
    const holder = peer("holder");
    const held = await acquireNow(10_000, holder.engine);
    const t0 = clock.monotonicMs();
    const startWallMs = clock.wallMs();
    const waiting = engine.acquire(NAME, TTL, 5000);
    await time.elapse(20); // attempts at 0, 0, 15; the next at 30
    const ticket = expectedTicket(startWallMs, random.secrets[0]!);
    for (const fake of fakes) expect(fake.ticketsOf(QUEUE)).toEqual([ticket]);

    await time.settle(holder.engine.release(NAME, held.id));
    // The lock is free, but every instance answers for the older ticket.
    expect(await time.settle(peer("newcomer").engine.acquire(NAME, TTL, 0))).toEqual({
      acquired: false,
      retryAfterMs: undefined,
    });

    expect((await time.settle(waiting)).acquired).toBe(true);
    expect(attemptTimes(fakes[0]!, "lease", t0)).toEqual([0, 0, 15, 30]);
    for (const fake of fakes) expect(fake.ticketsOf(QUEUE)).toEqual([]); // consumed by the grant
  });

  it("tickets order by the waiter's start, so the earlier of two sidecars' waiters is served first", async () => {
    const { clock, time, fakes, engine, peer, acquireNow } = setup(3);
    const holder = peer("holder");
    const held = await acquireNow(10_000, holder.engine);
    const early = engine.acquire(NAME, TTL, 5000);
    await time.elapse(7);
    const late = peer("late").engine.acquire(NAME, TTL, 5000);
    await time.elapse(7);
    const tickets = fakes[0]!.ticketsOf(QUEUE);
    expect(tickets).toHaveLength(2);
    expect(tickets.map((t) => Number(t.slice(0, 15)))).toEqual([clock.wallMs() - 14, clock.wallMs() - 7]);

    await time.settle(holder.engine.release(NAME, held.id));
    const first = await time.settle(Promise.race([early.then(() => "early"), late.then(() => "late")]));
    expect(first).toBe("early");
    void late.catch(() => undefined);
  });

  it("a grant consumes the queue's ticket: the next local head makes a new, later one", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const first = engine.acquire(NAME, TTL, 5000);
    const second = engine.acquire(NAME, TTL, 5000);
    await time.elapse(5);
    const firstTicket = acquireRequests(fakes[0]!).at(-1)!.ticket;
    await time.settle(engine.release(NAME, held.id));
    const granted = await time.settle(first);
    if (!granted.acquired) return expect.fail("not granted");
    await time.elapse(20); // the second head waits up to 15 ms for a local release, then tries
    const secondTicket = acquireRequests(fakes[0]!).at(-1)!.ticket;
    expect(secondTicket).not.toBe("");
    expect(secondTicket > firstTicket).toBe(true);
    void second.catch(() => undefined);
  });

  it("the release subscription lasts while someone waits here and goes with the last waiter", async () => {
    const { time, fakes, engine, peer, acquireNow } = setup(3);
    const holder = peer("holder").engine;
    const held = await acquireNow(10_000, holder);
    const first = engine.acquire(NAME, TTL, 5000);
    const second = engine.acquire(NAME, TTL, 5000);
    await time.elapse(20);
    for (const fake of fakes) expect(fake.watcherCount(CHANNEL)).toBe(1);
    await time.settle(holder.release(NAME, held.id));
    const got = await time.settle(first);
    expect(got.acquired).toBe(true);
    // The second waiter still waits: the subscription stays, with no resubscribe.
    for (const fake of fakes) {
      expect(fake.watcherCount(CHANNEL)).toBe(1);
      expect(fake.callsOf("watchReleases")).toHaveLength(1);
    }
    if (!got.acquired) throw new Error("unreachable");
    await time.settle(engine.release(NAME, got.lease.id));
    expect((await time.settle(second)).acquired).toBe(true);
    for (const fake of fakes) expect(fake.watcherCount(CHANNEL)).toBe(0);
  });

  it("close() drops subscriptions and closes every instance", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    await acquireNow(10_000);
    void engine.acquire(NAME, TTL, 5000).catch(() => undefined);
    await time.elapse(20);
    for (const fake of fakes) expect(fake.watcherCount(CHANNEL)).toBe(1);
    await time.settle(engine.close());
    for (const fake of fakes) {
      expect(fake.watcherCount(CHANNEL)).toBe(0);
      expect(fake.callsOf("close")).toHaveLength(1);
    }
  });
});

describe("acquire: callers behind the local queue are told the truth (issue 12)", () => {
  /** Acquire requests without a ticket (callers that asked the instances themselves, not the head). */
  const ticketless = (fake: FakeInstance): InstanceAcquire[] => acquireRequests(fake).filter((r) => r.ticket === "");

  it("a caller without a wait behind a head that finds too few instances: unavailable from its own attempt, not acquired false", async () => {
    const { time, fakes, engine } = setup(3, 400);
    fakes[0]!.behave("fail");
    fakes[1]!.behave("fail");
    const head = engine.acquire(NAME, TTL, 1000);
    await time.elapse(5);

    const error = await time.rejection(engine.acquire(NAME, TTL, 0));

    expect(expectLockError(error, "unavailable").message).toContain("only 1 of 3 instances answered (need 2)");
    expect(ticketless(fakes[2]!)).toHaveLength(1);
    void head.catch(() => undefined);
  });

  it("a queued waiter whose wait ends while the head finds too few instances: unavailable, from the head's attempts", async () => {
    const { time, fakes, engine } = setup(3, 400);
    fakes[0]!.behave("fail");
    fakes[1]!.behave("fail");
    const head = engine.acquire(NAME, TTL, 1000);
    const behind = engine.acquire(NAME, TTL, 40);

    const error = await time.rejection(behind);

    expect(expectLockError(error, "unavailable").message).toContain("only 1 of 3 instances answered (need 2)");
    expect(ticketless(fakes[2]!)).toHaveLength(0);
    void head.catch(() => undefined);
  });

  it("a queued waiter is told what the head's latest attempt found: held again once the instances are back", async () => {
    const { time, fakes, engine } = setup(3, 400);
    for (const fake of fakes) fake.put(LOCK, "someone-else-000000", 5000);
    fakes[0]!.behave("fail");
    fakes[1]!.behave("fail");
    const head = engine.acquire(NAME, TTL, 1000);
    const behind = engine.acquire(NAME, TTL, 60);
    await time.elapse(20); // the head found too few instances at 0, 0 and 15
    fakes[0]!.behave("answer");
    fakes[1]!.behave("answer");

    // The head's attempts at 30 and 45 found the lock held by a majority.
    expect(await time.settle(behind)).toEqual({ acquired: false, retryAfterMs: 5000 - 60 });
    for (const fake of fakes) expect(ticketless(fake)).toHaveLength(0);
    void head.catch(() => undefined);
  });

  it("a caller without a wait that finds the lock free while callers queue here hands it to their head", async () => {
    const { time, fakes, engine } = setup(3, 400);
    fakes[0]!.behave("fail");
    fakes[1]!.behave("fail");
    const head = engine.acquire(NAME, TTL, 5000); // its ticket stands on i2 only
    await time.elapse(5);
    fakes[0]!.behave("answer");
    fakes[1]!.behave("answer");

    // The head's latest attempt found an outage, so the caller asks: i0 and i1 grant.
    expect(await time.settle(engine.acquire(NAME, TTL, 0))).toEqual({ acquired: false, retryAfterMs: undefined });

    const handed = ticketless(fakes[0]!)[0]!.secret;
    expect(fakes.map((f) => f.callsOf("handover").map((c) => (c.args[0] as { secret: string }).secret))).toEqual([
      [handed],
      [handed],
      [handed],
    ]);
    const result = await time.settle(head);
    if (!result.acquired) return expect.fail("the head was not handed the lock");
    expect(engine.leases.valid(time.clock.monotonicMs()).map((l) => l.leaseId)).toEqual([result.lease.leaseId]);
  });
});

describe("acquire: split votes (issue 12)", () => {
  it("with an instance down, a split vote is waited out like any holder: the retry pause, not a few ms", async () => {
    const { clock, time, fakes, engine } = setup(3, 400);
    fakes[0]!.put(LOCK, "someone-else-000000", 5000); // the holder's key; its other instance is down
    fakes[2]!.behave("fail");
    const t0 = clock.monotonicMs();
    const waiting = engine.acquire(NAME, TTL, 100);

    expect(await time.settle(waiting)).toEqual({ acquired: false, retryAfterMs: 5000 - 100 });
    // i1 granted each attempt and had it rolled back: one attempt per pause, as any waiter.
    expect(attemptTimes(fakes[1]!, "lease", t0)).toEqual([0, 0, 15, 30, 45, 60, 75, 90, 100]);
  });

  it("with an instance down, a split vote's waiter takes the lock when the holder's key runs out", async () => {
    const { clock, time, fakes, engine } = setup(3, 400);
    fakes[0]!.put(LOCK, "someone-else-000000", 40);
    fakes[2]!.behave("fail");
    const t0 = clock.monotonicMs();

    expect((await time.settle(engine.acquire(NAME, TTL, 1000))).acquired).toBe(true);
    // At 30 the key had 10 ms left: the next look is at 41.
    expect(attemptTimes(fakes[1]!, "lease", t0)).toEqual([0, 0, 15, 30, 41]);
  });

  it("with every instance answering and half of them free (contenders racing, N=4): looked at again within a few ms", async () => {
    const { clock, time, fakes, engine } = setup(4, 400);
    fakes[0]!.put(LOCK, "someone-else-000000", 5000);
    fakes[1]!.put(LOCK, "someone-else-000000", 5000);
    const t0 = clock.monotonicMs();
    void engine.acquire(NAME, TTL, 1000).catch(() => undefined);
    await time.elapse(20);
    // SPLIT_RETRY_MS 3 x (1 + 0.5), plus 1: 5.5 ms apart (fake timers count whole ms).
    expect(attemptTimes(fakes[2]!, "lease", t0)).toEqual([0, 0, 5, 10, 15, 20]);
  });
});

describe("release: handover to this sidecar's waiting head", () => {
  /** Secrets that handover calls released, and the acquire requests they carried. */
  function handovers(fake: FakeInstance): { released: string; request: InstanceAcquire }[] {
    return fake
      .callsOf("handover")
      .map((c) => ({ released: (c.args[0] as { secret: string }).secret, request: c.args[1] as InstanceAcquire }));
  }

  it("releases and grants the head in one call per instance, with validity from that call and the next token", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    const notices: string[] = [];
    for (const fake of fakes) await fake.watchReleases(CHANNEL, (tag) => notices.push(tag));
    const held = await acquireNow(10_000);
    const waiting = engine.acquire(NAME, TTL, 5000);
    await time.elapse(20);
    const attemptsBefore = fakes.map((f) => f.callsOf("acquire").length);
    const releasedAt = clock.monotonicMs();

    expect(await time.settle(engine.release(NAME, held.id))).toBe(true);
    const result = await time.settle(waiting);
    if (!result.acquired) return expect.fail("the head was not handed the lock");
    expect(result.lease.endMs).toBe(releasedAt + TTL - DRIFT);
    expect(result.lease.fencingToken).toBe(held.fencingToken + 1n);
    fakes.forEach((fake, i) => {
      expect(fake.callsOf("release")).toHaveLength(0);
      expect(fake.callsOf("acquire")).toHaveLength(attemptsBefore[i]!); // no attempt of its own
      expect(handovers(fake)).toEqual([
        { released: held.leaseId.split(".")[0], request: expect.objectContaining({ ttlMs: TTL }) },
      ]);
      expect(fake.valueAt(LOCK)).toBe(result.lease.leaseId.split(".")[0]);
    });
    await time.elapse(1);
    expect(notices).toEqual([]); // never free, so nothing to announce
  });

  it("an older waiting ticket of another sidecar wins: the release is announced and the head waits its turn", async () => {
    const { time, fakes, engine, peer, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const other = peer("other").engine;
    const foreign = other.acquire(NAME, TTL, 5000); // waits first: the older ticket
    await time.elapse(7);
    const local = engine.acquire(NAME, TTL, 5000);
    await time.elapse(20);

    expect(await time.settle(engine.release(NAME, held.id))).toBe(true);
    for (const fake of fakes) expect(handovers(fake)).toHaveLength(1);
    const first = await time.settle(foreign);
    if (!first.acquired) return expect.fail("the older ticket was not served first");
    expect(first.lease.fencingToken).toBe(held.fencingToken + 1n);
    await time.elapse(30);
    let localDone = false;
    void local.finally(() => (localDone = true));
    await time.elapse(1);
    expect(localDone).toBe(false); // still waiting behind the other sidecar's holder

    await time.settle(other.release(NAME, first.lease.id));
    const second = await time.settle(local);
    expect(second.acquired).toBe(true);
  });

  it("granted by fewer than a majority: the head's partial grant is rolled back and it keeps waiting", async () => {
    const { time, fakes, random, engine, acquireNow } = setup(3);
    const held = await acquireNow(500);
    const waiting = engine.acquire(NAME, TTL, 5000);
    await time.elapse(20);
    fakes[1]!.behave("fail", "handover");
    fakes[2]!.behave("fail", "handover");
    const secretsBefore = random.secrets.length;

    await expect(time.settle(engine.release(NAME, held.id))).rejects.toThrow(
      /only 1 of 3 instances answered the release/,
    );
    await time.elapse(1);
    const handedSecret = handovers(fakes[0]!)[0]!.request.secret;
    expect(random.secrets.slice(secretsBefore)).toContain(handedSecret);
    expect(releaseSecrets(fakes[0]!)).toContain(handedSecret); // rolled back where it landed
    expect(fakes[0]!.valueAt(LOCK)).toBeUndefined();
    let done = false;
    void waiting.finally(() => (done = true));
    await time.elapse(1);
    expect(done).toBe(false);

    // The old lease lingers on two instances until its TTL; then the head gets the lock.
    for (const fake of fakes) fake.behave("answer");
    await time.elapse(500);
    expect((await time.settle(waiting)).acquired).toBe(true);
  });

  it("a head cancelled while its handover is in flight: the grant is rolled back, and the call ends with its reason", async () => {
    const { time, fakes, random, engine, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const controller = new AbortController();
    const waiting = engine.acquire(NAME, TTL, 5000, controller.signal);
    await time.elapse(20);
    for (const fake of fakes) fake.behave("gate", "handover");
    const releasing = engine.release(NAME, held.id);
    await time.elapse(1);
    for (const fake of fakes) expect(fake.gated).toBe(1);
    const reason = new LockError("cancelled", "client went away");
    const ended = waiting.catch((error: unknown) => error);
    controller.abort(reason);
    for (const fake of fakes) fake.openGate();

    expect(await time.settle(releasing)).toBe(true);
    expect(await time.settle(ended)).toBe(reason);
    const handedSecret = handovers(fakes[0]!)[0]!.request.secret;
    expect(random.secrets).toContain(handedSecret);
    for (const fake of fakes) {
      expect(releaseSecrets(fake)).toContain(handedSecret);
      expect(fake.valueAt(LOCK)).toBeUndefined();
    }
    expect(engine.leases.valid(Number.NEGATIVE_INFINITY)).toHaveLength(0);
  });

  it("a head whose wait ended takes no handover: the release is a plain one", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const waiting = engine.acquire(NAME, TTL, 50);
    await time.elapse(60);
    expect(await time.settle(waiting)).toMatchObject({ acquired: false });
    expect(await time.settle(engine.release(NAME, held.id))).toBe(true);
    for (const fake of fakes) {
      expect(fake.callsOf("handover")).toHaveLength(0);
      expect(fake.callsOf("release")).toHaveLength(1);
    }
  });

  it("a fair grant opens a batch: callers queued here by then go before other sidecars' tickets, later ones after", async () => {
    const { time, fakes, engine, peer, acquireNow } = setup(3);
    const holder = peer("holder").engine;
    const held = await acquireNow(10_000, holder);
    const order: string[] = [];
    const served = new Map<string, Lease>();
    const enter = (on: LockEngine, who: string): Promise<void> =>
      on.acquire(NAME, TTL, 5000).then((r) => {
        if (!r.acquired) throw new Error(`${who} not granted`);
        order.push(who);
        served.set(who, r.lease);
      });
    const done = [enter(engine, "a1"), enter(engine, "a2"), enter(engine, "a3")];
    await time.elapse(5);
    const other = peer("other").engine;
    done.push(enter(other, "c")); // its ticket is younger than a1's, older than any later one here
    await time.elapse(5);
    await time.settle(holder.release(NAME, held.id));
    await time.elapse(1);
    expect(order).toEqual(["a1"]); // the oldest ticket: a fair grant, a batch of a1, a2, a3
    done.push(enter(engine, "a4")); // queued after the batch began
    await time.elapse(5);

    const releaseNext = async (on: LockEngine, who: string): Promise<void> => {
      await time.settle(on.release(NAME, served.get(who)!.id));
      await time.elapse(1);
    };
    await releaseNext(engine, "a1");
    await releaseNext(engine, "a2");
    expect(order).toEqual(["a1", "a2", "a3"]); // handed over ahead of c's older ticket
    await releaseNext(engine, "a3");
    expect(order).toEqual(["a1", "a2", "a3", "c"]); // a4 is not in the batch: c's ticket goes first
    await releaseNext(other, "c");
    await time.settle(Promise.all(done));
    expect(order).toEqual(["a1", "a2", "a3", "c", "a4"]);
    const overtaking = fakes[0]!.callsOf("handover").map((c) => (c.args[1] as InstanceAcquire).overtake);
    expect(overtaking).toEqual([true, true, false]);
  });

  it("a lease this sidecar no longer holds (expired here) is handed over in ticket order, never ahead of it", async () => {
    const { clock, time, fakes, engine, peer, acquireNow } = setup(3);
    const holder = peer("holder").engine;
    const held = await acquireNow(10_000, holder);
    const firstCall = engine.acquire(NAME, 100, 5000);
    const batch = engine.acquire(NAME, TTL, 5000); // queued before the grant below: in its batch
    await time.elapse(5);
    await time.settle(holder.release(NAME, held.id));
    const first = await time.settle(firstCall); // won by the tickets' order: a batch opens
    if (!first.acquired) return expect.fail("not granted");
    const other = peer("other").engine.acquire(NAME, TTL, 5000); // its ticket predates any new one here
    await time.elapse(5);
    // Past the lease's end here, while the instances still keep its key (their clocks run slow).
    clock.advance(100);
    for (const fake of fakes) fake.put(LOCK, first.lease.leaseId.split(".")[0]!, 5000);
    await time.settle(engine.release(NAME, first.lease.id));
    const handover = fakes[0]!.callsOf("handover").at(-1);
    expect((handover?.args[1] as InstanceAcquire | undefined)?.overtake).toBe(false);
    expect((await time.settle(other)).acquired).toBe(true); // the other sidecar's older ticket went first
    void batch.catch(() => undefined);
  });

  it("a head whose watch opens while the holder here releases still tries at once", async () => {
    const { clock, time, fakes, engine } = setup(3);
    for (const fake of fakes) fake.behave("gate", "watchReleases");
    const firstCall = engine.acquire(NAME, TTL, 5000); // granted at once: it never opens a watch
    const second = engine.acquire(NAME, TTL, 5000); // then heads the queue and subscribes (held at the gate)
    const first = await time.settle(firstCall);
    if (!first.acquired) return expect.fail("not granted");
    await time.flush();
    const releasedAt = clock.monotonicMs();
    await time.settle(engine.release(NAME, first.lease.id)); // no offer yet: a plain release, noticed here
    for (const fake of fakes) fake.openGate();
    expect((await time.settle(second)).acquired).toBe(true);
    expect(clock.monotonicMs() - releasedAt).toBeLessThan(PAUSE); // not after the fallback delay
  });

  it.each([
    [0, ["a1", "c", "a2", "a3"]],
    [1, ["a1", "a2", "c", "a3"]],
    [2, ["a1", "a2", "a3", "c"]],
  ] as const)(
    "LOCK_MAX_BATCH %i bounds how many queued callers go ahead of another sidecar's older ticket",
    async (maxBatch, expected) => {
      const base = setup(3);
      const { time, fakes, peer, acquireNow } = base;
      const engine = new LockEngine(
        fakes,
        { ...OPTIONS, maxBatch },
        { clock: base.clock, randomness: new ScriptedRandomness("batch") },
      );
      const holder = peer("holder").engine;
      const held = await acquireNow(10_000, holder);
      const order: string[] = [];
      const served = new Map<string, { on: LockEngine; lease: Lease }>();
      const enter = (on: LockEngine, who: string): Promise<void> =>
        on.acquire(NAME, TTL, 5000).then((r) => {
          if (!r.acquired) throw new Error(`${who} not granted`);
          order.push(who);
          served.set(who, { on, lease: r.lease });
        });
      const done = [enter(engine, "a1"), enter(engine, "a2"), enter(engine, "a3")];
      await time.elapse(5);
      done.push(enter(peer("other").engine, "c"));
      await time.elapse(5);
      await time.settle(holder.release(NAME, held.id));
      for (let i = 0; i < 4; i++) {
        await time.elapse(1);
        const last = served.get(order.at(-1)!)!;
        await time.settle(last.on.release(NAME, last.lease.id));
      }
      await time.settle(Promise.all(done));
      expect(order).toEqual(expected);
    },
  );

  it("the release answers once a majority released; the head waits for the answer that decides it", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const waiting = engine.acquire(NAME, TTL, 5000);
    await time.elapse(20);
    // Another sidecar's older ticket, registered on i1 only: i1 will refuse the head.
    await fakes[1]!.acquire({
      keys: { lock: LOCK, fence: FENCE, queue: QUEUE, channel: CHANNEL },
      secret: "elsewhere-000000",
      ttlMs: TTL,
      fenceRetentionMs: 60_000,
      ticket: "000000000000000-older",
      ticketTtlMs: 60_000,
    });
    fakes[2]!.behave("gate", "handover");
    expect(await time.settle(engine.release(NAME, held.id), 5)).toBe(true); // i0 and i1 released: answered
    let settled = false;
    void waiting.finally(() => (settled = true));
    await time.flush();
    expect(settled).toBe(false); // one grant, one refusal: i2 decides
    fakes[2]!.openGate();
    expect((await time.settle(waiting)).acquired).toBe(true);
  });

  it("a release that fails before handing over still gives the waiting head an outcome", async () => {
    const { time, random, engine, acquireNow } = setup(3);
    const held = await acquireNow(10_000);
    const waiting = engine.acquire(NAME, TTL, 5000);
    await time.elapse(20);
    const ended = waiting.then(
      () => "granted",
      (error: unknown) => error,
    );
    const broken = new Error("no randomness");
    vi.spyOn(random, "leaseSecret").mockImplementationOnce(() => {
      throw broken;
    });
    await expect(time.settle(engine.release(NAME, held.id))).rejects.toBe(broken);
    expect(await time.settle(ended, 100)).toBe(broken); // not left waiting forever
  });

  it("passes the lock down a local queue one handover per release, in arrival order", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    let lease = await acquireNow(10_000);
    const order: number[] = [];
    const waiters = [0, 1, 2, 3].map((i) =>
      engine.acquire(NAME, TTL, 5000).then((r) => {
        order.push(i);
        return r;
      }),
    );
    await time.elapse(20);
    for (let i = 0; i < 4; i++) {
      await time.settle(engine.release(NAME, lease.id));
      const next = await time.settle(waiters[i]!);
      if (!next.acquired) return expect.fail(`waiter ${i} not granted`);
      lease = next.lease;
    }
    expect(order).toEqual([0, 1, 2, 3]);
    for (const fake of fakes) expect(fake.callsOf("handover")).toHaveLength(4);
  });
});

describe("limits", () => {
  function limited(maxLeases: number, maxWaiters: number) {
    const base = setup(3);
    const engine = new LockEngine(
      base.fakes,
      { ...OPTIONS, maxLeases, maxWaiters },
      { clock: base.clock, randomness: new ScriptedRandomness("limited") },
    );
    return { ...base, engine };
  }

  it("refuses an acquire beyond LOCK_MAX_LEASES without asking the instances; a release makes room", async () => {
    const { time, fakes, engine, acquireNow } = limited(2, 10);
    await acquireNow(TTL, engine, "a");
    const b = await acquireNow(TTL, engine, "b");
    const calls = fakes.map((f) => f.calls.length);
    const error = await time.rejection(engine.acquire("c", TTL, 0));
    expect(expectLockError(error, "resource-exhausted").message).toContain("LOCK_MAX_LEASES");
    expect(fakes.map((f) => f.calls.length)).toEqual(calls);
    await time.settle(engine.release("b", b.id));
    expect((await time.settle(engine.acquire("c", TTL, 0))).acquired).toBe(true);
  });

  it("leases past their end stop counting once pruned (at most a second later)", async () => {
    const { clock, time, engine, acquireNow } = limited(1, 10);
    await acquireNow(100, engine, "a");
    clock.advance(1000);
    expect((await time.settle(engine.acquire("b", TTL, 0))).acquired).toBe(true);
  });

  it("refuses a waiting acquire beyond LOCK_MAX_WAITERS; acquires without a wait are not counted", async () => {
    const { time, engine, peer, acquireNow } = limited(100, 1);
    await acquireNow(10_000, peer("holder").engine);
    const waiting = engine.acquire(NAME, TTL, 5000);
    await time.elapse(1);
    expect(engine.waiting).toBe(1);
    const error = await time.rejection(engine.acquire("other", TTL, 5000));
    expect(expectLockError(error, "resource-exhausted").message).toContain("LOCK_MAX_WAITERS");
    expect((await time.settle(engine.acquire("free", TTL, 0))).acquired).toBe(true);
    void waiting.catch(() => undefined);
  });

  it("a finished waiter frees its place", async () => {
    const { time, engine, peer, acquireNow } = limited(100, 1);
    await acquireNow(10_000, peer("holder").engine);
    expect(await time.settle(engine.acquire(NAME, TTL, 20))).toMatchObject({ acquired: false });
    expect(engine.waiting).toBe(0);
    expect(await time.settle(engine.acquire(NAME, TTL, 20))).toMatchObject({ acquired: false });
  });

  // Regression: acquires in flight count toward LOCK_MAX_LEASES, so
  // concurrent calls cannot overshoot it.
  it("concurrent acquires never leave more leases than LOCK_MAX_LEASES", async () => {
    const { clock, time, engine } = limited(1, 10);
    await time.settle(Promise.allSettled([engine.acquire("x", TTL, 0), engine.acquire("y", TTL, 0)]));
    expect(engine.leases.valid(clock.monotonicMs()).length).toBeLessThanOrEqual(1);
  });
});

describe("extend", () => {
  it("renews for the new TTL from now", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    clock.advance(400);
    const renewedAt = clock.monotonicMs();

    const renewed = await time.settle(engine.extend(NAME, lease.id, 2000));

    const endMs = renewedAt + 2000 - 22; // drift of 2000: 20 + 2
    expect(renewed).toEqual({ ...lease, ttlMs: 2000, endMs });
    expect(engine.leases.get(lease.leaseId)).toEqual(renewed);
    for (const fake of fakes) expect(fake.ttlOf(LOCK)).toBe(2000);
  });

  it("a minority failing does not matter", async () => {
    const { time, fakes, engine, acquireNow } = setup(5);
    const lease = await acquireNow();
    fakes[0]!.behave("fail");
    fakes[3]!.behave("hang");
    const renewed = await time.settle(engine.extend(NAME, lease.id, TTL));
    expect(renewed.fencingToken).toBe(lease.fencingToken);
  });

  it("works for a lease this engine does not know (granted by another sidecar)", async () => {
    const { time, engine, peer, acquireNow } = setup(3);
    const lease = await acquireNow(TTL, peer("other").engine);
    const renewed = await time.settle(engine.extend(NAME, lease.id, TTL));
    expect(renewed.leaseId).toBe(lease.leaseId);
    expect(renewed.fencingToken).toBe(lease.fencingToken);
  });

  it("a malformed lease id: invalid-argument, no instance called", async () => {
    const { fakes, engine } = setup(3);
    // The engine takes a parsed id: a malformed one is refused before it is called.
    expectLockError(
      thrownBy(() => engine.extend(NAME, parseLeaseId("nonsense"), TTL)),
      "invalid-argument",
    );
    for (const fake of fakes) expect(fake.calls).toHaveLength(0);
  });

  it("renewals requested together share one call per instance, each lease judged by its own votes", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const a = await acquireNow(TTL, engine, "a");
    const b = await acquireNow(TTL, engine, "b");
    fakes[0]!.drop("test:lock:b");
    fakes[1]!.drop("test:lock:b");

    const [ra, rb] = await time.settle(
      Promise.allSettled([engine.extend("a", a.id, 2000), engine.extend("b", b.id, 2000)]),
    );

    expect(ra).toMatchObject({ status: "fulfilled", value: { leaseId: a.leaseId, ttlMs: 2000 } });
    expect(rb.status).toBe("rejected");
    if (rb.status === "rejected") expectLockError(rb.reason, "not-held");
    for (const fake of fakes) {
      expect(
        fake.callsOf("extend").map((c) => (c.args[0] as { lockKey: string }[]).map((item) => item.lockKey)),
      ).toEqual([["test:lock:a", "test:lock:b"]]);
    }
  });

  it("a well-formed lease id nobody holds: not-held", async () => {
    const { time, engine, acquireNow } = setup(3);
    await acquireNow();
    expectLockError(await time.rejection(engine.extend(NAME, parseLeaseId("wrong-secret-00000.100"), TTL)), "not-held");
  });

  it("a released lease: not-held", async () => {
    const { time, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    await time.settle(engine.release(NAME, lease.id));
    expectLockError(await time.rejection(engine.extend(NAME, lease.id, TTL)), "not-held");
  });

  it("a lease taken away on a majority: not-held, and released where it remained", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    fakes[0]!.drop(LOCK);
    fakes[1]!.put(LOCK, "new-holder-0000000", 5000);

    expectLockError(await time.rejection(engine.extend(NAME, lease.id, TTL)), "not-held");

    expect(fakes.map((f) => f.valueAt(LOCK))).toEqual([undefined, "new-holder-0000000", undefined]);
    // Remembered as ended, so a further Extend is refused here without asking the instances.
    const extendsSoFar = fakes[0]!.callsOf("extend").length;
    expectLockError(await time.rejection(engine.extend(NAME, lease.id, TTL)), "not-held");
    expect(fakes[0]!.callsOf("extend")).toHaveLength(extendsSoFar);
    expect(engine.leases.get(lease.leaseId)?.endMs).toBeLessThanOrEqual(clock.monotonicMs());
    expect(engine.leases.valid(clock.monotonicMs())).toHaveLength(0);
  });

  it("only a minority answering: unavailable, lease kept", async () => {
    const { time, fakes, engine, acquireNow } = setup(5);
    const lease = await acquireNow();
    for (const i of [0, 2, 4]) fakes[i]!.behave("fail");
    const error = await time.rejection(engine.extend(NAME, lease.id, TTL));
    expect(expectLockError(error, "unavailable").message).toContain("only 2 of 5 instances answered (need 3)");
    expect(engine.leases.get(lease.leaseId)).toEqual(lease);
  });

  it("a majority answering but too few holding to decide: unavailable, not not-held", async () => {
    // 2 still hold it, 1 lost it, 2 do not answer: those 2 may hold it too.
    const { time, fakes, engine, acquireNow } = setup(5);
    const lease = await acquireNow();
    fakes[0]!.drop(LOCK);
    fakes[1]!.behave("fail");
    fakes[2]!.behave("hang");
    expectLockError(await time.rejection(engine.extend(NAME, lease.id, TTL)), "unavailable");
  });

  it("a lease past its known end: not-held without extending on any instance; its keys are left to run out", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    // Known end: start + 1000 - 12. The keys themselves live 12 ms longer.
    clock.advance(TTL - DRIFT);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeDefined();

    expectLockError(await time.rejection(engine.extend(NAME, lease.id, TTL)), "not-held");

    for (const fake of fakes) {
      expect(fake.callsOf("extend")).toHaveLength(0);
      // Another sidecar may have renewed it and told its owner a later end: not deleted here.
      expect(fake.callsOf("release")).toHaveLength(0);
      expect(fake.valueAt(LOCK)).toBeDefined();
    }
    // Remembered as ended, so a further Extend is refused here too.
    expect(engine.leases.get(lease.leaseId)?.endMs).toBeLessThanOrEqual(clock.monotonicMs());
    expect(engine.leases.valid(clock.monotonicMs())).toHaveLength(0);
  });

  it("one millisecond before its known end the lease is still renewed", async () => {
    const { clock, time, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    clock.advance(TTL - DRIFT - 1);
    const renewed = await time.settle(engine.extend(NAME, lease.id, TTL));
    expect(renewed.endMs).toBe(clock.monotonicMs() + TTL - DRIFT);
  });

  it("a renewal that takes too long: unavailable", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    for (const fake of fakes) {
      fake.onCall = (call) => {
        if (call.method === "extend") clock.advance(200);
      };
    }
    const error = await time.rejection(engine.extend(NAME, lease.id, TTL));
    expect(expectLockError(error, "unavailable").message).toContain("took 600 ms to renew");
  });

  it("a known lease under another name: not-held, nothing extended", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    expectLockError(await time.rejection(engine.extend("other", lease.id, TTL)), "not-held");
    for (const fake of fakes) {
      expect(fake.callsOf("extend")).toHaveLength(0);
      expect(fake.valueAt(LOCK)).toBe(lease.leaseId.split(".")[0]);
    }
  });

  // Regression: an extend under another name must not make the sidecar
  // forget the real lease (and with it the lease's past-end guard).
  it("a mistaken extend under another name keeps the real lease's past-end guard", async () => {
    const { clock, time, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    expectLockError(await time.rejection(engine.extend("other", lease.id, TTL)), "not-held");
    clock.advance(TTL - DRIFT); // past the known end; the keys live 12 ms more
    expectLockError(await time.rejection(engine.extend(NAME, lease.id, TTL)), "not-held");
  });

  // Regression: the registry is keyed by the secret, so a lease id with an
  // altered token part still meets the lease's known end.
  it("a lease id with an altered token part is still refused past the lease's known end", async () => {
    const { clock, time, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    const [secret, token] = lease.leaseId.split(".");
    clock.advance(TTL - DRIFT);
    expectLockError(await time.rejection(engine.extend(NAME, parseLeaseId(`${secret}.0${token}`), TTL)), "not-held");
  });

  it("a renewal that completes after the lease was released here: not-held, and the lease stays forgotten", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    // The renewal lands on every instance, but its answers come back late.
    for (const fake of fakes) fake.behave("gate-reply", "extend");
    const renewal = engine.extend(NAME, lease.id, TTL);
    renewal.catch(() => undefined);
    await time.elapse(1);
    expect(await time.settle(engine.release(NAME, lease.id))).toBe(true);
    for (const fake of fakes) fake.openGate();

    expectLockError(await time.rejection(renewal), "not-held");
    expect(engine.leases.get(lease.leaseId)).toBeUndefined();
    expect(engine.leases.sizeAt(0)).toBe(0);
  });

  it("a renewal that completes after the lease was found lost here: not-held, and the lease is not revived", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    // A renewal for a long TTL lands on every instance, but its answers come back late.
    for (const fake of fakes) fake.behave("gate-reply", "extend");
    const renewal = engine.extend(NAME, lease.id, 10_000);
    renewal.catch(() => undefined);
    await time.elapse(1);
    // Meanwhile the known end passes and another Extend finds the lease lost.
    clock.advance(TTL);
    for (const fake of fakes) fake.behave("answer", "extend");
    expectLockError(await time.rejection(engine.extend(NAME, lease.id, TTL)), "not-held");
    for (const fake of fakes) fake.openGate();

    expectLockError(await time.rejection(renewal), "not-held");
    expect(engine.leases.valid(clock.monotonicMs())).toHaveLength(0);
    expectLockError(await time.rejection(engine.extend(NAME, lease.id, TTL)), "not-held");
    // Its keys run out at the late renewal's end; nothing here deletes them.
    for (const fake of fakes) expect(fake.callsOf("release")).toHaveLength(0);
  });

  // Regression: a metrics scrape (leases.valid) between the end and the
  // Extend took the lease out of the registry, and the Extend then renewed
  // keys that outlive the lease's end by the drift allowance.
  it("a lease past its known end is still refused after the registry's live set dropped it", async () => {
    const { clock, time, fakes, engine } = setup(3);
    const long = 300_000; // drift 3002 ms: the keys outlive the known end by 3 s
    const granted = await time.settle(engine.acquire(NAME, long, 0));
    if (!granted.acquired) throw new Error("not acquired");
    clock.advance(long - 3002 + 500);
    expect(engine.leases.valid(clock.monotonicMs())).toHaveLength(0);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeDefined();

    expectLockError(await time.rejection(engine.extend(NAME, granted.lease.id, long)), "not-held");
    for (const fake of fakes) expect(fake.callsOf("extend")).toHaveLength(0);
  });
});

describe("release", () => {
  it("is idempotent: true, then false", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    expect(await time.settle(engine.release(NAME, lease.id))).toBe(true);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeUndefined();
    expect(engine.leases.get(lease.leaseId)).toBeUndefined();
    expect(await time.settle(engine.release(NAME, lease.id))).toBe(false);
  });

  it("false once the lease expired on the instances", async () => {
    const { clock, time, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    clock.advance(TTL);
    expect(await time.settle(engine.release(NAME, lease.id))).toBe(false);
  });

  it("true with a minority failing, as soon as a majority deleted it", async () => {
    const { clock, time, fakes, engine, acquireNow } = setup(5);
    const lease = await acquireNow();
    fakes[1]!.behave("fail");
    fakes[2]!.behave("hang");
    const startMs = clock.monotonicMs();
    expect(await time.settle(engine.release(NAME, lease.id))).toBe(true);
    expect(clock.monotonicMs()).toBe(startMs); // the hanging instance was not waited for
  });

  it("false when only a minority still held it (and those are deleted)", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    fakes[0]!.drop(LOCK);
    fakes[1]!.drop(LOCK);
    expect(await time.settle(engine.release(NAME, lease.id))).toBe(false);
    expect(fakes[2]!.valueAt(LOCK)).toBeUndefined();
  });

  it("fewer than a majority answering: unavailable", async () => {
    const { time, fakes, engine, acquireNow } = setup(5);
    const lease = await acquireNow();
    for (const i of [0, 1, 2]) fakes[i]!.behave("fail");
    const error = await time.rejection(engine.release(NAME, lease.id));
    expect(expectLockError(error, "unavailable").message).toContain(
      "only 2 of 5 instances answered the release (need 3)",
    );
  });

  it("under another name: false, and the real lease stays known and held", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    expect(await time.settle(engine.release("other", lease.id))).toBe(false);
    expect(engine.leases.get(lease.leaseId)).toEqual(lease);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeDefined();
  });

  it("a malformed lease id: invalid-argument", async () => {
    const { engine } = setup(3);
    // The engine takes a parsed id: a malformed one is refused before it is called.
    expectLockError(
      thrownBy(() => engine.release(NAME, parseLeaseId("x"))),
      "invalid-argument",
    );
  });
});

describe("reachableCount and close", () => {
  it("close() lets calls still out after an early answer land before closing the instances", async () => {
    const { time, fakes, engine, acquireNow } = setup(3);
    const lease = await acquireNow();
    fakes[2]!.behave("gate", "release");
    expect(await time.settle(engine.release(NAME, lease.id))).toBe(true); // i0 and i1 deleted it
    let closed = false;
    const closing = engine.close().then(() => (closed = true));
    await time.flush();
    expect(closed).toBe(false);
    for (const fake of fakes) expect(fake.callsOf("close")).toHaveLength(0);
    fakes[2]!.openGate();
    await time.settle(closing);
    expect(fakes[2]!.valueAt(LOCK)).toBeUndefined();
    for (const fake of fakes) expect(fake.callsOf("close")).toHaveLength(1);
  });

  it("counts instances that answer a ping in time", async () => {
    const { time, fakes, engine } = setup(5);
    fakes[0]!.behave("hang");
    fakes[3]!.behave("fail");
    expect(await time.settle(engine.reachableCount())).toBe(3);
  });

  it("closes every instance even if one fails", async () => {
    const { time, fakes, engine } = setup(3);
    fakes[1]!.behave("fail");
    await time.settle(engine.close());
    for (const fake of fakes) expect(fake.callsOf("close")).toHaveLength(1);
  });
});
