import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ReleaseWatches } from "../../src/engine/release-watch.ts";
import { fakeInstances } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { ManualClock } from "./support/manual-clock.ts";

const TIMEOUT = 20;
const CHANNEL = "w:released:job";

beforeEach(() => FakeTime.install());
afterEach(() => {
  vi.useRealTimers();
});

describe("ReleaseWatches", () => {
  function setup() {
    const clock = new ManualClock();
    const time = new FakeTime(clock);
    const fakes = fakeInstances(3, clock);
    // Instance 2's SUBSCRIBE outlasts the instance timeout (a first SUBSCRIBE opens a connection).
    fakes[2]!.behave("gate", "watchReleases");
    const watches = new ReleaseWatches(fakes, TIMEOUT);
    return { clock, time, fakes, watches };
  }

  it("a subscription that completes after the wait for it gave up is undone when the watch closes", async () => {
    const { time, fakes, watches } = setup();
    const watch = await time.settle(watches.open("job", CHANNEL, () => undefined));
    expect(fakes.map((f) => f.watcherCount(CHANNEL))).toEqual([1, 1, 0]);
    fakes[2]!.openGate();
    await time.elapse(1);
    expect(fakes[2]!.watcherCount(CHANNEL)).toBe(1);

    watch.close();
    expect(fakes.map((f) => f.watcherCount(CHANNEL))).toEqual([0, 0, 0]);
  });

  it("one that completes after the watch already closed is undone at once", async () => {
    const { time, fakes, watches } = setup();
    const watch = await time.settle(watches.open("job", CHANNEL, () => undefined));
    watch.close();
    fakes[2]!.openGate();
    await time.elapse(1);
    expect(fakes.map((f) => f.watcherCount(CHANNEL))).toEqual([0, 0, 0]);
  });
});
