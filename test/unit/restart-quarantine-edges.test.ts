/**
 * Two edges of the witnessed restart quarantine (docs/design.md, "Restarted
 * instances"), found by an independent review:
 * - a server that reports no run_id (Dragonfly) is told to have restarted
 *   only when its start moved by more than 2 s: a quarantine must not end
 *   before that blind spot has passed, or a second restart within it goes
 *   unnoticed while the instance already counts again;
 * - the late-starter rule judges a first start once: a quarantine the
 *   witnesses shortened is not started again by later readings.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { LockEngine } from "../../src/engine/lock-engine.ts";
import type { GuardedInstance } from "../../src/instances/guarded-instance.ts";
import { eventually } from "../support/sidecar-fixture.ts";
import { engineTestOptions } from "./support/engine-options.ts";
import { FakeInstance } from "./support/fake-instance.ts";
import { ManualClock } from "./support/manual-clock.ts";
import { ScriptedRandomness } from "./support/scripted-randomness.ts";
import { witnessedGuards } from "./support/witnessed-guards.ts";

const PREFIX = "edge:";
const QUARANTINE = 300_000;
const opened: GuardedInstance[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((g) => g.close()));
});

/** One sidecar's guards (with its own witnesses, ages, circuits) over the shared fakes, as guardInstances wires them. */
function sidecar(fakes: FakeInstance[], clock: ManualClock, random: string, withWitnesses = true) {
  const guards = witnessedGuards(fakes, clock, {
    prefix: PREFIX,
    quarantineMs: QUARANTINE,
    circuitFailures: 1000,
    logger: pino({ level: "silent" }),
    withWitnesses,
  });
  opened.push(...guards);
  const engine = new LockEngine(guards, engineTestOptions(PREFIX), {
    clock,
    randomness: new ScriptedRandomness(random),
  });
  return { guards, engine };
}

async function freshSidecar() {
  const clock = new ManualClock({ monotonicMs: 10_000_000 });
  const fakes = ["i0", "i1", "i2"].map((n) => new FakeInstance(n, clock));
  fakes[0]!.startedAtMs = clock.monotonicMs() - 3_600_000;
  fakes[1]!.startedAtMs = clock.monotonicMs() - 3_600_000;
  fakes[2]!.startedAtMs = clock.monotonicMs() - 120_000; // started 2 min after the others: a late starter
  const guards = witnessedGuards(fakes, clock, {
    prefix: PREFIX,
    quarantineMs: QUARANTINE,
    circuitFailures: 3,
    logger: pino({ level: "silent" }),
  });
  opened.push(...guards);
  for (const g of guards) await g.waitUntilConnected(0);
  expect(guards[2]!.state()).toBe("quarantined");
  await eventually(() => guards[2]!.quarantineBasis() === "witnessed", 2000, "late starter witnessed");
  clock.advance(10);
  expect(guards[2]!.state()).toBe("ok");
  return { clock, fakes, guards };
}

describe("a restart told by uptime alone", () => {
  it("keeps the instance out until a second restart could be noticed, then notices it", async () => {
    const clock = new ManualClock({ monotonicMs: 10_000_000 });
    const fakes = ["r", "w1", "w2"].map((name) => {
      const f = new FakeInstance(name, clock);
      f.reportsRunId = false; // a server that reports only its uptime
      f.startedAtMs = clock.monotonicMs() - 3_600_000;
      return f;
    });
    const a = sidecar(fakes, clock, "A");
    const c = sidecar(fakes, clock, "C");
    for (const g of [...a.guards, ...c.guards]) await g.waitUntilConnected(0);

    fakes[0]!.restart();
    await a.guards[0]!.waitUntilConnected(0);
    await c.guards[0]!.waitUntilConnected(0);
    // Nothing is held, so the witnesses allow an early end, but not before start + 3 s.
    await eventually(
      () => a.guards[0]!.quarantineBasis() === "witnessed" && c.guards[0]!.quarantineBasis() === "witnessed",
      3000,
      "witnessed",
    );
    clock.advance(10);
    expect(c.guards[0]!.state()).toBe("quarantined");
    expect(c.guards[0]!.quarantineRemainingMs()).toBeLessThanOrEqual(3000);

    // Within the blind spot C cannot grant with r's vote (w2 loses the write): refused or unavailable.
    fakes[2]!.behave("fail", "acquire");
    const early = await c.engine.acquire("job", 60_000, 0).catch(() => ({ acquired: false }));
    expect(early.acquired).toBe(false);

    // Once it has passed, r counts; a crash after that moves its start far enough to be noticed.
    clock.advance(3000);
    expect(c.guards[0]!.state()).toBe("ok");
    const first = await c.engine.acquire("job", 60_000, 0);
    expect(first.acquired).toBe(true);
    fakes[2]!.behave("answer");
    fakes[0]!.restart();
    await a.guards[0]!.waitUntilConnected(0);
    expect(a.guards[0]!.state()).toBe("quarantined");
    const second = await a.engine.acquire("job", 60_000, 0).catch(() => ({ acquired: false }));
    expect(second.acquired).toBe(false);
  });
});

describe("a late starter cleared by its witnesses", () => {
  it("stays cleared when another instance reconnects", async () => {
    const { clock, fakes, guards } = await freshSidecar();
    clock.advance(1234);
    fakes[1]!.reconnect(); // a network blip on i1: same server run
    await guards[1]!.waitUntilConnected(0);
    expect(guards[1]!.state()).toBe("ok");
    expect(guards[2]!.state()).toBe("ok");
  });

  it("stays cleared after its own reconnection", async () => {
    const { clock, fakes, guards } = await freshSidecar();
    clock.advance(1234);
    fakes[2]!.reconnect();
    await guards[2]!.waitUntilConnected(0);
    expect(guards[2]!.state()).toBe("ok");
  });

  it("witnesses for another instance that restarts, which then counts again without waiting for LOCK_MAX_TTL", async () => {
    const { clock, fakes, guards } = await freshSidecar();
    clock.advance(1234);
    fakes[1]!.restart();
    await guards[1]!.waitUntilConnected(0);
    await eventually(() => guards[1]!.quarantineBasis() === "witnessed", 3000, "i1 witnessed");
    clock.advance(10);
    expect(guards[1]!.state()).toBe("ok");
    expect(guards[2]!.state()).toBe("ok");
  });
});
