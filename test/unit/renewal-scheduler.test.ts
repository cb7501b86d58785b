import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RecentMax } from "../../src/engine/recent-max.ts";
import { RenewalScheduler, type ScheduledTask } from "../../src/engine/renewal-scheduler.ts";
import { FakeTime } from "./support/fake-time.ts";
import { ManualClock } from "./support/manual-clock.ts";

/** A task that records when it ran, as `name@ms`. */
function task(name: string, urgencyMs: number, log: string[], clock: ManualClock): ScheduledTask {
  return {
    scheduledAtMs: undefined,
    urgencyMs,
    run(nowMs, dueMs) {
      log.push(`${name}@${nowMs - 10_000}${dueMs === nowMs ? "" : ` (due ${dueMs - 10_000})`}`);
      expect(nowMs).toBe(clock.monotonicMs());
    },
  };
}

beforeEach(() => FakeTime.install());
afterEach(() => {
  vi.useRealTimers();
});

describe("RenewalScheduler", () => {
  it("holds one timer however many tasks wait, and runs tasks due together earliest end first", async () => {
    const clock = new ManualClock();
    const time = new FakeTime(clock);
    const scheduler = new RenewalScheduler(clock);
    const log: string[] = [];
    for (let i = 0; i < 100; i++) scheduler.schedule(task(`t${i}`, 5000 - i, [], clock), 10_000 + 100 * (i % 5));
    expect(vi.getTimerCount()).toBe(1);

    const late = task("late", 9000, log, clock);
    const soon = task("soon", 3000, log, clock);
    const middle = task("middle", 6000, log, clock);
    scheduler.schedule(late, 10_050);
    scheduler.schedule(soon, 10_050);
    scheduler.schedule(middle, 10_050);
    await time.elapse(60);
    expect(log).toEqual(["soon@50", "middle@50", "late@50"]);
  });

  it("runs a task once, at its latest schedule; a cancelled task not at all", async () => {
    const clock = new ManualClock();
    const time = new FakeTime(clock);
    const scheduler = new RenewalScheduler(clock);
    const log: string[] = [];
    const moved = task("moved", 0, log, clock);
    const cancelled = task("cancelled", 0, log, clock);
    scheduler.schedule(moved, 10_020);
    scheduler.schedule(moved, 10_040);
    scheduler.schedule(moved, 10_020);
    scheduler.schedule(cancelled, 10_030);
    scheduler.cancel(cancelled);
    await time.elapse(100);
    expect(log).toEqual(["moved@20"]);
  });

  it("rounds a due time up to the millisecond, so tasks due in the same millisecond share a bucket", async () => {
    const clock = new ManualClock();
    const time = new FakeTime(clock);
    const scheduler = new RenewalScheduler(clock);
    const log: string[] = [];
    scheduler.schedule(task("a", 1, log, clock), 10_004.2);
    scheduler.schedule(task("b", 0, log, clock), 10_004.9);
    await time.elapse(10);
    expect(log).toEqual(["b@5", "a@5"]);
  });

  it("says how long the oldest due task has waited while this process could not run it", () => {
    const clock = new ManualClock();
    const scheduler = new RenewalScheduler(clock);
    scheduler.schedule(task("a", 0, [], clock), 10_100);
    expect(scheduler.overdueMs(clock.monotonicMs())).toBe(0);
    // The clock moves, the timer does not fire: the event loop is busy.
    clock.advance(400);
    expect(scheduler.overdueMs(clock.monotonicMs())).toBe(300);
  });
});

describe("RecentMax", () => {
  it("keeps the largest value of the last one to two windows", () => {
    const recent = new RecentMax(1000);
    recent.record(30, 0);
    recent.record(80, 500);
    recent.record(10, 900);
    expect(recent.read(900)).toBe(80);
    // Next window: the last one's maximum still counts.
    recent.record(20, 1100);
    expect(recent.read(1500)).toBe(80);
    // Two windows on it is gone.
    expect(recent.read(2200)).toBe(20);
    expect(recent.read(5000)).toBe(0);
  });
});
