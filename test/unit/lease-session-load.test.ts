import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LeaseSessions } from "../../src/engine/lease-sessions.ts";
import type { Lease } from "../../src/engine/lease.ts";
import { LockEngine } from "../../src/engine/lock-engine.ts";
import { fakeInstances } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { ManualClock } from "./support/manual-clock.ts";
import { engineTestOptions } from "./support/engine-options.ts";
import { ScriptedRandomness } from "./support/scripted-randomness.ts";

const TTL = 3000; // renewals every 1000 ms, on 100 ms ticks

async function setup() {
  const clock = new ManualClock({ monotonicMs: 10_000 });
  const time = new FakeTime(clock);
  const fakes = fakeInstances(3, clock, { fenceStart: 1n });
  const engine = new LockEngine(fakes, engineTestOptions("load:"), {
    clock,
    randomness: new ScriptedRandomness("load"),
  });
  const acquire = async (name: string): Promise<Lease> => {
    const result = await time.settle(engine.acquire(name, TTL, 0));
    if (!result.acquired) throw new Error(`setup: ${name} not acquired`);
    return result.lease;
  };
  const lateness: number[] = [];
  const sessions = new LeaseSessions(engine, 10, { renewalAnswered: (ms) => lateness.push(ms) });
  /** When instance 0 was asked to extend `name`, relative to `fromMs`. */
  const extendsOf = (name: string, fromMs: number): number[] =>
    fakes[0]!
      .callsOf("extend")
      .filter((c) => (c.args[0] as { lockKey: string }[]).some((i) => i.lockKey === `load:lock:${name}`))
      .map((c) => c.atMs - fromMs);
  return { clock, time, engine, acquire, sessions, lateness, extendsOf };
}

beforeEach(() => FakeTime.install());
afterEach(() => {
  vi.useRealTimers();
});

describe("lease sessions under load", () => {
  it("renew a new keeper's lease at once while renewals keep up, and report how late each renewal was answered", async () => {
    const { clock, time, acquire, sessions, lateness, extendsOf } = await setup();
    const lease = await acquire("calm");
    const t0 = clock.monotonicMs();
    const known: Lease[] = [];
    const renewed: Lease[] = [];
    sessions.keep("calm", lease.id, TTL, { renewed: (l) => renewed.push(l), known: (l) => known.push(l) });
    await time.elapse(1100);
    expect(extendsOf("calm", t0)).toEqual([0, 1000]);
    expect(known).toEqual([]);
    expect(renewed).toHaveLength(2);
    expect(lateness).toEqual([0, 0]);
  });

  it("while renewals run late, tell a new keeper the lease as known at once and renew it when due, not at once", async () => {
    const { clock, time, acquire, sessions, extendsOf } = await setup();
    const busy = await acquire("busy");
    const fresh = await acquire("fresh");
    const t0 = clock.monotonicMs();
    sessions.keep("busy", busy.id, TTL, () => undefined);
    // The event loop is held up: the renewal due now has not run 60 ms on.
    clock.advance(60);
    expect(sessions.renewalLagMs()).toBe(60);
    const known: Lease[] = [];
    const renewed: Lease[] = [];
    sessions.keep("fresh", fresh.id, TTL, { renewed: (l) => renewed.push(l), known: (l) => known.push(l) });
    expect(known).toEqual([fresh]);
    await time.elapse(1500);
    // Acquired at t0 until t0 + TTL - drift: due a third of the TTL on, on a 100 ms tick.
    expect(extendsOf("fresh", t0)).toEqual([1000]);
    expect(extendsOf("busy", t0)).toEqual([60, 1100]);
    expect(renewed).toHaveLength(1);
  });

  it("still renew at once for a keeper that cannot take the lease as known, or a lease not granted here", async () => {
    const { clock, time, engine, acquire, sessions, extendsOf } = await setup();
    const busy = await acquire("busy");
    const plain = await acquire("plain");
    // Granted elsewhere: this sidecar knows no end for it.
    const elsewhere = await acquire("elsewhere");
    engine.leases.delete("elsewhere", elsewhere.leaseId, clock.monotonicMs());
    const t0 = clock.monotonicMs();
    sessions.keep("busy", busy.id, TTL, () => undefined);
    clock.advance(60);
    const known: Lease[] = [];
    sessions.keep("plain", plain.id, TTL, () => undefined);
    sessions.keep("elsewhere", elsewhere.id, TTL, { renewed: () => undefined, known: (l) => known.push(l) });
    await time.elapse(50);
    expect(extendsOf("plain", t0)).toEqual([60]);
    expect(extendsOf("elsewhere", t0)).toEqual([60]);
    expect(known).toEqual([]);
  });
  it("a keeper granted the lease in the same call (Hold) waits for the first renewal's due time, busy or not", async () => {
    const { clock, time, acquire, sessions, extendsOf } = await setup();
    const held = await acquire("held");
    const t0 = clock.monotonicMs();
    const renewed: Lease[] = [];
    sessions.keep("held", held.id, TTL, (l) => renewed.push(l), true);
    await time.elapse(1500);
    expect(extendsOf("held", t0)).toEqual([1000]);
    expect(renewed).toHaveLength(1);
  });

  it("a keeper joining on the known path never pushes back a renewal the session has due sooner", async () => {
    const { clock, time, acquire, sessions, extendsOf } = await setup();
    const lease = await acquire("shared");
    const t0 = clock.monotonicMs();
    sessions.keep("shared", lease.id, TTL, () => undefined);
    await time.elapse(950); // renewed at once, at t0: next due at t0 + 1000
    // A second keeper with a shorter TTL joins granted-style 950 ms on: reckoned from the
    // lease's known end (t0 + 3000), its own first renewal would be due at t0 + 2000.
    sessions.keep("shared", lease.id, TTL / 2, () => undefined, true);
    await time.elapse(100);
    expect(extendsOf("shared", t0)).toEqual([0, 1000]);
  });
});
