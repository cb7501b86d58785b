import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fanOut, fanOutUntil, StillPending } from "../../src/engine/fan-out.ts";
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
    expect(results[0]).toEqual({ ok: true, value: { runId: "i0-run-0", uptimeMs: 0 } });
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

  it("fanOutUntil answers as soon as enough is in, marks the rest pending, and still collects everything", async () => {
    const clock = new ManualClock();
    const time = new FakeTime(clock);
    const fakes = fakeInstances(3, clock);
    fakes[2]!.behave("gate");
    const okCount = (answers: readonly ({ ok: boolean } | undefined)[]): number =>
      answers.filter((a) => a?.ok === true).length;
    const { first, all } = fanOutUntil(
      fakes,
      25,
      (i) => i.identify(),
      (answers) => okCount(answers) >= 2,
    );

    const early = await time.settle(first);
    expect(early.map((r) => r.ok)).toEqual([true, true, false]);
    expect(early[2]!.ok || early[2]!.error).toBeInstanceOf(StillPending);
    fakes[2]!.openGate();
    const complete = await time.settle(all);
    expect(complete).toEqual([
      { ok: true, value: { runId: "i0-run-0", uptimeMs: 0 } },
      { ok: true, value: { runId: "i1-run-0", uptimeMs: 0 } },
      { ok: true, value: { runId: "i2-run-0", uptimeMs: 0 } },
    ]);
  });

  it("fanOutUntil waits for everything when enough never holds", async () => {
    const clock = new ManualClock();
    const time = new FakeTime(clock);
    const fakes = fakeInstances(3, clock);
    fakes[0]!.behave("fail");
    fakes[2]!.behave("hang");
    const startMs = clock.monotonicMs();
    const { first } = fanOutUntil(
      fakes,
      25,
      (i) => i.identify(),
      (answers) => answers.filter((a) => a?.ok === true).length >= 2,
    );
    const results = await time.settle(first);
    expect(results.map((r) => r.ok)).toEqual([false, true, false]);
    expect(results[2]!.ok || results[2]!.error).toBeInstanceOf(TimeoutError);
    expect(clock.monotonicMs() - startMs).toBe(25);
  });
});
