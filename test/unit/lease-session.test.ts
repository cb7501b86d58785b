import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseLeaseId } from "../../src/engine/lease-id.ts";
import {
  LeaseLostError,
  renewalDueMs,
  type ClosePolicy,
  type LeaseLossReason,
} from "../../src/engine/lease-session.ts";
import { LeaseSessions } from "../../src/engine/lease-sessions.ts";
import type { Lease } from "../../src/engine/lease.ts";
import { LockEngine } from "../../src/engine/lock-engine.ts";
import { fakeInstances } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { ManualClock } from "./support/manual-clock.ts";
import { engineTestOptions } from "./support/engine-options.ts";
import { ScriptedRandomness } from "./support/scripted-randomness.ts";

const OPTIONS = engineTestOptions("ka:");
const NAME = "job";
const LOCK = "ka:lock:job";
const TTL = 300; // renewals every 100 ms
const DRIFT = 5; // floor(300 / 100) + 2
const RETRY = 10;

/**
 * A keeper as a promise: it resolves once `signal` aborts and the keeper
 * closed with `policy`, and rejects with the loss when the lease is lost.
 */
function keep(
  sessions: LeaseSessions,
  leaseId: string,
  ttlMs: number,
  signal: AbortSignal,
  onRenewed: (lease: Lease) => void,
  policy: ClosePolicy = "run-out",
): Promise<void> {
  const keeper = sessions.keep(NAME, parseLeaseId(leaseId), ttlMs, onRenewed);
  return new Promise((resolve, reject) => {
    void keeper.lost.then(reject);
    const stop = (): void => void keeper.close(policy).then(resolve, reject);
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  });
}

async function setup(n = 3, startMs = 10_000) {
  const clock = new ManualClock({ monotonicMs: startMs });
  const time = new FakeTime(clock);
  const fakes = fakeInstances(n, clock, { fenceStart: 1n });
  const engine = new LockEngine(fakes, OPTIONS, { clock, randomness: new ScriptedRandomness("ka") });
  const result = await time.settle(engine.acquire(NAME, TTL, 0));
  if (!result.acquired) throw new Error("setup: not acquired");
  const lease = result.lease;
  const t0 = clock.monotonicMs();
  const controller = new AbortController();
  const renewals: Lease[] = [];
  const sessions = new LeaseSessions(engine, RETRY);
  const start = (on: LockEngine = engine, policy: ClosePolicy = "run-out"): Promise<void> =>
    keep(
      on === engine ? sessions : new LeaseSessions(on, RETRY),
      lease.leaseId,
      TTL,
      controller.signal,
      (l) => renewals.push(l),
      policy,
    );
  /** When each instance-0 extend call happened, relative to t0. */
  const extendTimes = (): number[] => fakes[0]!.callsOf("extend").map((c) => c.atMs - t0);
  return { clock, time, fakes, engine, lease, t0, controller, renewals, sessions, start, extendTimes };
}

function expectLoss(error: unknown, reason: LeaseLossReason): void {
  expect(error).toBeInstanceOf(LeaseLostError);
  expect((error as LeaseLostError).lossReason).toBe(reason);
  expect((error as LeaseLostError).code).toBe(reason === "unavailable" ? "unavailable" : "not-held");
}

beforeEach(() => FakeTime.install());
afterEach(() => {
  vi.useRealTimers();
});

describe("LeaseSession", () => {
  it("renews at once, then every ttl/3, reporting each renewal", async () => {
    const { time, t0, controller, renewals, start, extendTimes, lease } = await setup();
    const running = start();

    await time.elapse(450);

    expect(extendTimes()).toEqual([0, 100, 200, 300, 400]);
    expect(renewals.map((l) => l.endMs - t0)).toEqual([0, 100, 200, 300, 400].map((at) => at + TTL - DRIFT));
    for (const renewal of renewals)
      expect(renewal).toMatchObject({
        name: NAME,
        leaseId: lease.leaseId,
        fencingToken: lease.fencingToken,
        ttlMs: TTL,
      });
    controller.abort();
    await expect(time.settle(running)).resolves.toBeUndefined();
  });

  it("renewals fall on a shared tick (ttl/30, at most 100 ms), so leases due together batch", async () => {
    // Acquired at 10 003: renewed at once, then at ceil((now + 100) / 10) * 10.
    const { time, controller, start, extendTimes } = await setup(3, 10_003);
    const running = start();
    await time.elapse(320);
    expect(extendTimes()).toEqual([0, 107, 207, 307]);
    controller.abort();
    await time.settle(running);
  });

  it("keeps the lease alive far beyond its TTL", async () => {
    const { time, fakes, controller, start, lease } = await setup();
    const running = start();
    await time.elapse(10 * TTL, 10); // renewals fall on 10 ms ticks
    expect(fakes[0]!.callsOf("extend")).toHaveLength(31); // at once, then every 100 ms
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBe(lease.leaseId.split(".")[0]);
    controller.abort();
    await time.settle(running);
  });

  it("run-out: renews no more once its last keeper leaves, and leaves the lease held", async () => {
    const { time, fakes, controller, renewals, start, extendTimes } = await setup();
    const running = start();
    await time.elapse(250);
    controller.abort();

    await expect(time.settle(running, 1)).resolves.toBeUndefined();
    await time.elapse(1000);
    expect(extendTimes()).toEqual([0, 100, 200]);
    expect(renewals).toHaveLength(3);
    for (const fake of fakes) expect(fake.callsOf("release")).toHaveLength(0);
  });

  it("does not report a renewal that completes after the abort", async () => {
    const { time, fakes, controller, renewals, start } = await setup();
    for (const fake of fakes) fake.behave("gate", "extend");
    const running = start();
    await time.flush();
    expect(fakes.map((f) => f.gated)).toEqual([1, 1, 1]);
    controller.abort();
    for (const fake of fakes) fake.openGate();
    await expect(time.settle(running)).resolves.toBeUndefined();
    expect(renewals).toEqual([]);
  });

  it("is lost as not_held when the lease is taken away on the instances", async () => {
    const { clock, time, fakes, t0, renewals, start } = await setup();
    const running = start();
    await time.elapse(50);
    fakes[0]!.drop(LOCK);
    fakes[1]!.put(LOCK, "thief-000000000000", 10_000);

    const error = await time.rejection(running);

    expectLoss(error, "not_held");
    expect(clock.monotonicMs() - t0).toBe(100); // at the next renewal
    expect(renewals).toHaveLength(1);
    expect(fakes[2]!.valueAt(LOCK)).toBeUndefined(); // released where it remained
    expect(fakes[1]!.valueAt(LOCK)).toBe("thief-000000000000");
  });

  it("when instances stop answering: retries every retryDelay, then unconfirmed once the end told passes", async () => {
    const { clock, time, fakes, t0, renewals, start, extendTimes } = await setup();
    const running = start();
    await time.elapse(50);
    for (const fake of fakes) fake.behave("fail");

    const error = await time.rejection(running);

    expectLoss(error, "unconfirmed");
    // Last confirmed renewal at 0: known end 0 + 300 - 5 = 295. Retries at
    // 100, 110, ..., 290; at 295 the engine refuses to renew past the end.
    expect(clock.monotonicMs() - t0).toBe(TTL - DRIFT);
    expect(extendTimes()).toEqual([0, ...Array.from({ length: 20 }, (_, i) => 100 + RETRY * i)]);
    expect(renewals).toHaveLength(1);
  });

  it("when instances hang: each try costs the instance timeout, and the loss (unconfirmed) comes at the end told, not when the last try times out", async () => {
    const { clock, time, fakes, t0, start, extendTimes } = await setup();
    const running = start();
    await time.elapse(50);
    for (const fake of fakes) fake.behave("hang");

    const error = await time.rejection(running);

    expectLoss(error, "unconfirmed");
    // Tries at 100, 130, ..., 280 (20 ms timeout + 10 ms pause); the one at
    // 280 would time out at 300, but the known end (and the last expires_at
    // reported) is 295: the loss is reported then.
    expect(extendTimes()).toEqual([0, 100, 130, 160, 190, 220, 250, 280]);
    expect(clock.monotonicMs() - t0).toBe(TTL - DRIFT);
  });

  it("a renewal that lands after the loss was reported is undone: the lease is released", async () => {
    const { clock, time, fakes, t0, start } = await setup();
    const running = start();
    await time.elapse(50);
    // Renewals reach the instances but their answers are held back.
    for (const fake of fakes) fake.behave("gate", "extend");

    const error = await time.rejection(running);
    expectLoss(error, "unconfirmed");
    expect(clock.monotonicMs() - t0).toBe(TTL - DRIFT);
    // The try sent at 280 is still out (its timeout is at 300) when the answers arrive: it lands.
    for (const fake of fakes) fake.openGate();
    await time.elapse(10);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeUndefined();
    for (const fake of fakes) expect(fake.callsOf("release").length).toBeGreaterThan(0);
  });

  it("reports the loss by the end it told, even when a unary Extend moved the lease's end later", async () => {
    const { clock, time, fakes, engine, lease, t0, start } = await setup();
    const running = start();
    await time.elapse(50);
    // The owner renews the same lease by Extend at 50: its end moves to 345, but this keeper was told 295.
    await time.settle(engine.extend(NAME, lease.id, TTL));
    for (const fake of fakes) fake.behave("hang");

    const error = await time.rejection(running);

    expectLoss(error, "unconfirmed");
    expect(clock.monotonicMs() - t0).toBe(TTL - DRIFT);
  });

  it("a shorter Extend neither shortens the keys nor the end: the end told stands", async () => {
    const { time, fakes, engine, lease, t0, renewals, start, controller } = await setup();
    const running = start();
    await time.elapse(50);
    expect(renewals.map((l) => l.endMs - t0)).toEqual([TTL - DRIFT]);
    // Another caller renews the same lease for 100 ms at 50: the keys keep their 300 ms TTL.
    const shorter = await time.settle(engine.extend(NAME, lease.id, 100));
    expect(shorter.endMs - t0).toBe(TTL - DRIFT);
    for (const fake of fakes) expect(fake.ttlOf(LOCK)).toBe(TTL - 50);
    controller.abort();
    await time.settle(running);
  });

  it("two keepers with different TTLs share one schedule: renewed for the longer, every third of the shorter", async () => {
    const { time, fakes, sessions, lease, t0, controller } = await setup();
    const long: Lease[] = [];
    const short: Lease[] = [];
    const a = keep(sessions, lease.leaseId, TTL, controller.signal, (l) => long.push(l));
    const b = keep(sessions, lease.leaseId, 150, controller.signal, (l) => short.push(l));
    await time.elapse(120);
    expect(sessions.size).toBe(1);
    const items = fakes[0]!.callsOf("extend").map((c) => (c.args[0] as { ttlMs: number }[]).map((i) => i.ttlMs));
    // Joined together: one renewal at once, then at 50 and 100 (ttl 150: tick 5, due every 50), all for 300.
    expect(items).toEqual([[TTL], [TTL], [TTL]]);
    for (const fake of fakes) expect(fake.ttlOf(LOCK)).toBe(TTL - 20);
    expect(long.map((l) => l.endMs - t0)).toEqual(short.map((l) => l.endMs - t0));
    controller.abort();
    await time.settle(Promise.all([a, b]));
  });

  it("release: the last keeper to leave on its owner's cancel releases the lease on the instances", async () => {
    const { time, fakes, controller, start } = await setup();
    const running = start(undefined, "release");
    await time.elapse(150);
    controller.abort();
    await time.settle(running);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeUndefined();
  });

  it("release: a keeper that leaves while another still keeps the lease releases nothing; renewals go on", async () => {
    const { time, fakes, sessions, lease, extendTimes } = await setup();
    const first = new AbortController();
    const second = new AbortController();
    const a = keep(sessions, lease.leaseId, TTL, first.signal, () => undefined, "release");
    const b = keep(sessions, lease.leaseId, TTL, second.signal, () => undefined, "run-out");
    await time.elapse(150);
    first.abort();
    await time.settle(a);
    await time.elapse(200);
    for (const fake of fakes) expect(fake.callsOf("release")).toHaveLength(0);
    expect(extendTimes().filter((at) => at > 150).length).toBeGreaterThan(0);
    // The last one leaves running out: still nothing released, no more renewals.
    second.abort();
    await time.settle(b);
    const renewalsSoFar = extendTimes().length;
    await time.elapse(200);
    expect(extendTimes()).toHaveLength(renewalsSoFar);
    for (const fake of fakes) expect(fake.callsOf("release")).toHaveLength(0);
  });

  it("released through Release while kept: no more renewals, and the owner's cancel releases nothing twice", async () => {
    const { time, fakes, controller, start, sessions, engine, lease, extendTimes } = await setup();
    const running = start(undefined, "release");
    await time.elapse(150);
    const id = parseLeaseId(lease.leaseId);
    sessions.releasedByOwner(NAME, id, true);
    expect(await time.settle(engine.release(NAME, id))).toBe(true);
    const renewalsSoFar = extendTimes().length;
    await time.elapse(50);
    controller.abort();
    await time.settle(running);
    expect(extendTimes()).toHaveLength(renewalsSoFar);
    // One release per instance: Release's own, none from the keeper's cancel.
    for (const fake of fakes) expect(fake.callsOf("release")).toHaveLength(1);
  });

  it("released through Release while a keeper stays open: it learns so at the end it was told, not before", async () => {
    const { clock, time, sessions, engine, lease, t0, start } = await setup();
    const running = start();
    await time.elapse(150);
    const id = parseLeaseId(lease.leaseId);
    sessions.releasedByOwner(NAME, id, true);
    await time.settle(engine.release(NAME, id));
    const error = await time.rejection(running);
    expectLoss(error, "not_held");
    expect(String(error)).toMatch(/released by its owner/);
    // Last renewal at 100: end told 100 + 300 - 5.
    expect(clock.monotonicMs() - t0).toBe(100 + TTL - DRIFT);
  });

  it("release waits for the renewal in flight, so the release lands after it", async () => {
    const { time, fakes, controller, start } = await setup();
    const running = start(undefined, "release");
    await time.elapse(50);
    for (const fake of fakes) fake.behave("gate", "extend");
    await time.elapse(60); // the renewal at 100 is out
    controller.abort();
    await time.flush();
    for (const fake of fakes) expect(fake.callsOf("release")).toHaveLength(0);
    for (const fake of fakes) fake.openGate();
    await time.settle(running);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeUndefined();
  });

  it("when only a minority answers, keeps trying and resumes the ttl/3 schedule once a majority is back", async () => {
    const { time, fakes, t0, controller, renewals, start, extendTimes } = await setup();
    const running = start();
    await time.elapse(50);
    fakes[0]!.behave("fail");
    fakes[1]!.behave("fail");
    await time.elapse(100); // now t0 + 150: tries at 100, 110, ..., 150 failed
    fakes[0]!.behave("answer");
    fakes[1]!.behave("answer");
    await time.elapse(200); // t0 + 350

    expect(fakes[2]!.callsOf("extend").map((c) => c.atMs - t0)).toEqual([0, 100, 110, 120, 130, 140, 150, 160, 260]);
    expect(extendTimes()).toEqual([0, 100, 110, 120, 130, 140, 150, 160, 260]);
    expect(renewals.map((l) => l.endMs - t0)).toEqual([TTL - DRIFT, 160 + TTL - DRIFT, 260 + TTL - DRIFT]);
    controller.abort();
    await time.settle(running);
  });

  it("without a known validity (lease granted elsewhere), an unconfirmed first renewal is lost as unavailable", async () => {
    const { clock, time, fakes, start } = await setup();
    const stranger = new LockEngine(fakes, OPTIONS, { clock, randomness: new ScriptedRandomness("other") });
    for (const fake of fakes.slice(1)) fake.behave("fail");
    expectLoss(await time.rejection(start(stranger)), "unavailable");
  });

  it("a lease granted elsewhere is kept alive too", async () => {
    const { clock, time, fakes, controller, renewals, start } = await setup();
    const stranger = new LockEngine(fakes, OPTIONS, { clock, randomness: new ScriptedRandomness("other") });
    const running = start(stranger);
    await time.elapse(250);
    expect(renewals).toHaveLength(3);
    controller.abort();
    await time.settle(running);
  });
});

describe("renewalDueMs", () => {
  it.each([
    // now, ttl, due: now + ttl/3 rounded up to a tick of min(100, max(1, floor(ttl/30)))
    [10_003, 300, 10_110], // tick 10
    [10_000, 300, 10_100], // already on a tick
    [5, 3000, 1100], // tick 100
    [0, 30_000, 10_000], // tick capped at 100
    [7, 20, 14], // tick 1: 13.67 rounds up
    [0, 10, 4],
  ])("now %i, ttl %i -> %i", (now, ttl, due) => {
    expect(renewalDueMs(now, ttl)).toBe(due);
  });

  it("is never earlier than a third of the TTL, and at most one tick later", () => {
    for (const ttl of [10, 31, 299, 300, 1000, 2999, 3000, 10_000, 86_400_000]) {
      const tick = Math.min(100, Math.max(1, Math.floor(ttl / 30)));
      for (let now = 0; now < 1000; now += 37) {
        const due = renewalDueMs(now, ttl);
        expect(due).toBeGreaterThanOrEqual(now + ttl / 3);
        expect(due - (now + ttl / 3)).toBeLessThan(tick);
        expect(due % tick).toBe(0);
      }
    }
  });

  it("leases renewed within one tick of each other are next due together", () => {
    expect(renewalDueMs(1001, 3000)).toBe(renewalDueMs(1099, 3000));
    expect(renewalDueMs(1000, 3000)).not.toBe(renewalDueMs(1001, 3000));
  });
});

describe("review regressions: the end told holds", () => {
  it("a long and a short Extend in one batch: the later end stands, and a later Extend before it renews instead of deleting the keys", async () => {
    const { time, fakes, engine, lease, t0 } = await setup();
    const [long] = await time.settle(
      Promise.all([engine.extend(NAME, lease.id, 10_000), engine.extend(NAME, lease.id, TTL)]),
    );
    expect(long.endMs - t0).toBeGreaterThan(9_000);
    expect(engine.leases.get(lease.leaseId)!.endMs).toBe(long.endMs);
    await time.elapse(700);
    await expect(time.settle(engine.extend(NAME, lease.id, 10_000))).resolves.toMatchObject({ name: NAME });
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBe(lease.id.secret);
  });

  it("a sidecar past the end it knows refuses to renew, but leaves the keys: another sidecar may have told a later end", async () => {
    const { clock, time, fakes, engine, lease } = await setup();
    const other = new LockEngine(fakes, OPTIONS, { clock, randomness: new ScriptedRandomness("other") });
    await time.settle(other.extend(NAME, lease.id, 10_000));
    await time.elapse(TTL + 50);
    await expect(time.settle(engine.extend(NAME, lease.id, TTL))).rejects.toMatchObject({ code: "not-held" });
    await time.flush();
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBe(lease.id.secret);
  });

  it("an unconfirmed loss is reported by the stream's end, but a lease an Extend promised for longer is not released", async () => {
    const { clock, time, fakes, engine, lease, t0, start } = await setup();
    const running = start();
    await time.elapse(50);
    await time.settle(engine.extend(NAME, lease.id, 10_000));
    for (const fake of fakes) fake.behave("hang", "extend");
    expectLoss(await time.rejection(running), "unconfirmed");
    expect(clock.monotonicMs() - t0).toBe(TTL - DRIFT);
    await time.elapse(100);
    for (const fake of fakes) expect(fake.callsOf("release")).toHaveLength(0);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBe(lease.id.secret);
  });

  it("a stream that joins while the last one's release waits for a renewal learns of the release instead of being told an end", async () => {
    const { time, fakes, sessions, lease } = await setup();
    const a = sessions.keep(NAME, lease.id, TTL, () => undefined);
    await time.elapse(50);
    for (const fake of fakes) fake.behave("gate", "extend");
    await time.elapse(60); // the renewal at 100 waits at the gate
    const closing = a.close("release");
    const told: Lease[] = [];
    const b = sessions.keep(NAME, lease.id, TTL, (l) => told.push(l));
    await time.flush();
    for (const fake of fakes) {
      fake.behave("answer", "extend");
      fake.openGate();
    }
    await time.settle(closing);
    expectLoss(await time.settle(b.lost), "not_held");
    expect(told).toEqual([]);
    for (const fake of fakes) expect(fake.valueAt(LOCK)).toBeUndefined();
  });
});
