import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CircuitBudget, GuardedInstance, type GuardOptions } from "../../src/instances/guarded-instance.ts";
import { InstanceAges } from "../../src/instances/instance-ages.ts";
import { quorumOf } from "../../src/redlock/quorum.ts";
import { FakeInstance } from "./support/fake-instance.ts";
import { ManualClock } from "./support/manual-clock.ts";

const QUARANTINE = 300_000; // LOCK_MAX_TTL
const WINDOW = 60_000; // LOCK_FRESH_START_WINDOW

const opened: GuardedInstance[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((guard) => guard.close()));
});

/** Guards over fakes whose servers started `startedAgoMs[i]` ago, sharing one InstanceAges; closed after each test. */
function setup(startedAgoMs: number[]) {
  const clock = new ManualClock({ monotonicMs: 10_000_000 });
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  const options: GuardOptions = {
    quarantineMs: QUARANTINE,
    freshStartWindowMs: WINDOW,
    ages: new InstanceAges(quorumOf(startedAgoMs.length)),
    circuitFailures: 3,
    circuitProbeIntervalMs: 500,
    circuitBudget: new CircuitBudget(1),
  };
  const fakes = startedAgoMs.map((ago, i) => {
    const fake = new FakeInstance(`fake-${i}`, clock);
    fake.startedAtMs = clock.monotonicMs() - ago;
    return fake;
  });
  const guards = fakes.map((fake) => new GuardedInstance(fake, options, clock, logger));
  opened.push(...guards);
  const verify = (i: number): Promise<void> => guards[i]!.waitUntilConnected(0);
  return { clock, lines, fakes, guards, verify };
}

describe("restart quarantine", () => {
  it("tells a restart of a server without run_id by its uptime starting again, and a reconnection to the same run from one", async () => {
    const { clock, fakes, guards, verify } = setup([600_000]);
    fakes[0]!.reportsRunId = false;
    await verify(0);
    expect(guards[0]!.state()).toBe("ok");

    // A network blip 7.5 s later: same run, uptime 7 s further on (whole seconds).
    clock.advance(7_500);
    fakes[0]!.reconnect();
    await verify(0);
    expect(guards[0]!.state()).toBe("ok");

    clock.advance(30_000);
    fakes[0]!.restart();
    await verify(0);
    expect(guards[0]!.state()).toBe("quarantined");
    expect(guards[0]!.quarantineRemainingMs()).toBe(QUARANTINE);
  });

  it("on first contact, holds out an instance that started well after the others until LOCK_MAX_TTL after its start", async () => {
    const { lines, guards, verify } = setup([3_600_000, 3_600_000 - 5_000, 10_000]);
    for (let i = 0; i < 3; i++) await verify(i);
    expect(guards.map((g) => g.state())).toEqual(["ok", "ok", "quarantined"]);
    expect(guards[2]!.quarantineRemainingMs()).toBe(QUARANTINE - 10_000);
    expect(lines.join("")).toContain("instance started well after the others");
  });

  it("also when the older instances answer after the late starter, whose votes wait for a majority to be identified", async () => {
    const { guards, verify } = setup([3_600_000, 3_600_000, 10_000]);
    await verify(2);
    // Alone it cannot be told from a fresh deployment: its answers do not count yet.
    expect(guards[2]!.state()).toBe("unverified");
    await expect(guards[2]!.ping()).rejects.toThrow(/majority of instances is identified/);
    await verify(0);
    expect(guards[2]!.state()).toBe("quarantined");
    await expect(guards[2]!.ping()).rejects.toThrow(/quarantine/);
    expect(guards[0]!.state()).toBe("ok");
    await expect(guards[0]!.ping()).resolves.toBeUndefined();
  });

  it("a restart into a build that reports a run_id (none before) is told by its uptime", async () => {
    const { clock, fakes, guards, verify } = setup([600_000]);
    fakes[0]!.reportsRunId = false;
    await verify(0);
    clock.advance(30_000);
    fakes[0]!.reportsRunId = true;
    fakes[0]!.restart();
    await verify(0);
    expect(guards[0]!.state()).toBe("quarantined");
  });

  it("without a run_id, a server clock that runs slow within the drift allowance is not taken for a restart", async () => {
    const { clock, fakes, guards, verify } = setup([600_000]);
    fakes[0]!.reportsRunId = false;
    await verify(0);
    // 300 s later its uptime reads 2.5 s short (0.8 % slow): more than the fixed 2 s slack, within 1 % drift.
    clock.advance(300_000);
    fakes[0]!.startedAtMs += 2_500;
    fakes[0]!.reconnect();
    await verify(0);
    expect(guards[0]!.state()).toBe("ok");
  });

  it("the late-starter rule judges the start read on first contact, not a later reading after a clock step", async () => {
    const { clock, fakes, guards, verify } = setup([3_600_000, 3_600_000, 3_600_000]);
    for (let i = 0; i < 3; i++) await verify(i);
    clock.advance(5_000);
    // Instance 2's wall clock steps back by almost an hour: its uptime now reads 10 s.
    fakes[2]!.startedAtMs = clock.monotonicMs() - 10_000;
    fakes[2]!.reconnect();
    await verify(2);
    expect(guards.map((g) => g.state())).toEqual(["ok", "ok", "ok"]);
  });

  it("with a run_id, a jump in uptime (the server's wall clock stepped) is not taken for a restart", async () => {
    const { clock, fakes, guards, verify } = setup([600_000]);
    await verify(0);
    clock.advance(5_000);
    // The server's clock stepped back 30 s: its uptime reads 30 s less.
    fakes[0]!.startedAtMs += 30_000;
    fakes[0]!.reconnect();
    await verify(0);
    expect(guards[0]!.state()).toBe("ok");
  });

  it("does not hold out instances that started together (a cluster deployed together), however recently", async () => {
    const { guards, verify } = setup([10_000, 10_000 + WINDOW, 40_000]);
    for (let i = 0; i < 3; i++) await verify(i);
    expect(guards.map((g) => g.state())).toEqual(["ok", "ok", "ok"]);
  });

  it("does not hold out a late starter that has been up for LOCK_MAX_TTL already", async () => {
    const { guards, verify } = setup([3_600_000, 3_600_000, QUARANTINE]);
    for (let i = 0; i < 3; i++) await verify(i);
    expect(guards.map((g) => g.state())).toEqual(["ok", "ok", "ok"]);
  });
});
