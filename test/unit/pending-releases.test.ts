import { describe, expect, it } from "vitest";
import { PendingReleases } from "../../src/instances/pending-releases.ts";
import { fakeInstances } from "./support/fake-instance.ts";
import { ManualClock } from "./support/manual-clock.ts";

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("PendingReleases", () => {
  it("sends a kept release again once the instance answers, and forgets it when it landed", async () => {
    const clock = new ManualClock({ monotonicMs: 1000 });
    const [fake] = fakeInstances(1, clock);
    fake!.put("k", "secret-a", 60_000);
    const pending = new PendingReleases(clock, 10_000);
    pending.add("k", "secret-a");
    fake!.behave("fail", "release");
    pending.flush(fake!);
    await settle();
    expect(pending.size).toBe(1);
    expect(fake!.valueAt("k")).toBe("secret-a");
    fake!.behave("answer", "release");
    pending.flush(fake!);
    await settle();
    expect(pending.size).toBe(0);
    expect(fake!.valueAt("k")).toBeUndefined();
  });

  it("drops a release whose key has expired anyway, and keeps at most its limit (oldest out first)", async () => {
    const clock = new ManualClock({ monotonicMs: 1000 });
    const [fake] = fakeInstances(1, clock);
    const pending = new PendingReleases(clock, 500, 2);
    pending.add("a", "s");
    pending.add("b", "s");
    pending.add("c", "s");
    expect(pending.size).toBe(2);
    pending.flush(fake!);
    await settle();
    // The oldest ("a") went to make room.
    expect(fake!.callsOf("release").map((c) => c.args[0])).toEqual(["b", "c"]);
    pending.add("b", "s");
    pending.add("c", "s");
    clock.advance(600);
    pending.flush(fake!);
    await settle();
    expect(pending.size).toBe(0);
    // Only the first flush sent anything: past their keep time, the others were dropped unsent.
    expect(fake!.callsOf("release")).toHaveLength(2);
  });
});
