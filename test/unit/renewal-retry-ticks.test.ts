import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseLeaseId } from "../../src/engine/lease-id.ts";
import { LeaseSessions } from "../../src/engine/lease-sessions.ts";
import { LockEngine } from "../../src/engine/lock-engine.ts";
import { engineTestOptions } from "./support/engine-options.ts";
import { fakeInstances } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { ManualClock } from "./support/manual-clock.ts";
import { ScriptedRandomness } from "./support/scripted-randomness.ts";

const TTL = 3000; // renewal tick 100 ms
const RETRY = 10;

beforeEach(() => FakeTime.install());
afterEach(() => {
  vi.useRealTimers();
});

/**
 * Retries of failed renewals fall on the shared renewal ticks, as renewals
 * do: leases whose renewals failed at different moments retry in one batch.
 * Retrying each at its own `now + retryDelay` cut batches into one call per
 * millisecond, multiplying calls to the instances just when they lagged
 * (issue 17: 50,000 kept leases collapsed into batches of two or three).
 */
describe("renewal retries", () => {
  it("go out on the renewal ticks, several leases per call", async () => {
    const clock = new ManualClock({ monotonicMs: 10_000 });
    const time = new FakeTime(clock);
    const fakes = fakeInstances(3, clock, { fenceStart: 1n });
    const engine = new LockEngine(fakes, engineTestOptions("rt:"), { clock, randomness: new ScriptedRandomness("rt") });
    const sessions = new LeaseSessions(engine, RETRY);
    const kept: { close(policy: "run-out"): Promise<void> }[] = [];
    // Five leases kept from moments 13 ms apart: their renewals fall on different ticks.
    for (let i = 0; i < 5; i++) {
      const result = await time.settle(engine.acquire(`job${i}`, TTL, 0));
      if (!result.acquired) throw new Error("not acquired");
      kept.push(sessions.keep(`job${i}`, parseLeaseId(result.lease.leaseId), TTL, () => undefined));
      await time.elapse(13);
    }
    await time.elapse(500);
    for (const fake of fakes) fake.behave("fail");
    const failedAt = clock.monotonicMs();
    await time.elapse(600);

    const calls = fakes[0]!.callsOf("extend").filter((c) => c.atMs >= failedAt);
    // One call per tick at most (the first failures, then their retries together), never one per retry.
    const ticks = new Set(calls.map((c) => Math.round(c.atMs) % 100));
    expect(calls.length).toBeLessThanOrEqual(8);
    expect(ticks.size).toBe(1);
    expect(Math.max(...calls.map((c) => (c.args.length > 0 ? (c.args[0] as unknown[]).length : 0)))).toBe(5);
    for (const k of kept) void k.close("run-out");
  });
});
