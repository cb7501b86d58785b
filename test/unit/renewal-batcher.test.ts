import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ExtendItem } from "../../src/instances/lock-instance.ts";
import { RenewalBatcher } from "../../src/engine/renewal-batcher.ts";
import { fakeInstances } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { ManualClock } from "./support/manual-clock.ts";

const TIMEOUT = 20;
const item = (i: number): ExtendItem => ({ lockKey: `b:lock:${i}`, secret: `s${i}`, ttlMs: 1000 });

beforeEach(() => FakeTime.install());
afterEach(() => {
  vi.useRealTimers();
});

function setup(maxBatch: number) {
  const clock = new ManualClock();
  const time = new FakeTime(clock);
  const fakes = fakeInstances(3, clock, { fenceStart: 1n });
  const batcher = new RenewalBatcher(fakes, TIMEOUT, clock, maxBatch);
  /** The keys of each script call instance 0 received, in order. */
  const calls = (): string[][] =>
    fakes[0]!.callsOf("extend").map((c) => (c.args[0] as ExtendItem[]).map((i) => i.lockKey.slice(7)));
  return { clock, time, fakes, batcher, calls };
}

describe("RenewalBatcher", () => {
  it("sends at most 8 batches at once; the rest wait, in the order they came, and go as answers return", async () => {
    const { time, fakes, batcher, calls } = setup(2);
    for (const fake of fakes) fake.behave("gate", "extend");
    const renewals = Array.from({ length: 20 }, (_, i) => batcher.extend(item(i)));
    await time.flush();
    const pairs = (from: number, to: number): string[][] =>
      Array.from({ length: (to - from) / 2 }, (_, i) => [String(from + 2 * i), String(from + 2 * i + 1)]);
    expect(calls()).toEqual(pairs(0, 16));
    expect(batcher.waiting).toBe(4);
    for (const fake of fakes) {
      fake.behave("answer", "extend");
      fake.openGate();
    }
    await time.settle(Promise.all(renewals));
    expect(calls()).toEqual(pairs(0, 20));
  });

  it("halves the batch after one that no instance answered in time, and grows it back as batches are answered", async () => {
    const { time, fakes, batcher, calls } = setup(128);
    const some = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => batcher.extend(item(i))));
    for (const fake of fakes) fake.behave("hang", "extend");
    const timedOut = await time.settle(some(128));
    expect(timedOut[0]!.votes.map((v) => v.kind)).toEqual(["failed", "failed", "failed"]);
    for (const fake of fakes) fake.behave("answer", "extend");
    await time.settle(some(128));
    await time.settle(some(128));
    // 128, timed out: 64 next; back to 128 once a full batch of 64 was answered.
    expect(calls().map((c) => c.length)).toEqual([128, 64, 64, 128]);
  });

  it("lets go of what it sent though the queue never runs empty", async () => {
    const { time, fakes, batcher } = setup(100);
    for (const fake of fakes) fake.behave("gate", "extend");
    let most = 0;
    // Each turn adds 2000 and answers the 8 batches of 100 out (8 more go): the queue never runs empty.
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 2000; i++) void batcher.extend(item(turn * 2000 + i));
      await time.flush();
      for (const fake of fakes) fake.openGate();
      await time.flush();
      expect(batcher.waiting).toBeGreaterThan(0);
      most = Math.max(most, batcher.held - batcher.waiting);
    }
    expect(most).toBeLessThan(1024 + 100);
  });

  it("judges each lease by its own votes", async () => {
    const { time, fakes, batcher } = setup(8);
    for (const fake of fakes) fake.put("b:lock:1", "s1", 1000);
    fakes[2]!.behave("fail", "extend");
    const [held, missing] = await time.settle(Promise.all([batcher.extend(item(1)), batcher.extend(item(2))]));
    expect(held!.votes.map((v) => v.kind)).toEqual(["matched", "matched", "failed"]);
    expect(missing!.votes.map((v) => v.kind)).toEqual(["missing", "missing", "failed"]);
  });
});
