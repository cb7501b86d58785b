import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fanOut } from "../../src/engine/fan-out.ts";
import { TimeoutError } from "../../src/util/abort.ts";
import { fakeInstances, InjectedFailure } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { ManualClock } from "./support/manual-clock.ts";

beforeEach(() => FakeTime.install());
afterEach(() => {
  vi.useRealTimers();
});

describe("fanOut", () => {
  it("calls every instance at once and reports each answer in instance order", async () => {
    const clock = new ManualClock();
    const time = new FakeTime(clock);
    const fakes = fakeInstances(4, clock);
    fakes[1]!.behave("fail");
    fakes[2]!.behave("hang");
    const startMs = clock.monotonicMs();

    const results = await time.settle(fanOut(fakes, 25, (i) => i.identify()));

    expect(results.map((r) => r.ok)).toEqual([true, false, false, true]);
    expect(results[0]).toEqual({ ok: true, value: "i0-run-0" });
    expect(results[1]!.ok || results[1]!.error).toBeInstanceOf(InjectedFailure);
    expect(results[2]!.ok || results[2]!.error).toBeInstanceOf(TimeoutError);
    // All calls started together; the hanging one cost exactly the timeout.
    for (const fake of fakes) expect(fake.calls.map((c) => c.atMs)).toEqual([startMs]);
    expect(clock.monotonicMs() - startMs).toBe(25);
  });

  it("a synchronous throw in the call counts as that instance's failure", async () => {
    const clock = new ManualClock();
    const fakes = fakeInstances(2, clock);
    const results = await fanOut(fakes, 10, (i) => {
      if (i.name === "i0") throw new Error("sync");
      return Promise.resolve(1);
    });
    expect(results.map((r) => r.ok)).toEqual([false, true]);
  });
});
