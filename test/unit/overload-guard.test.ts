import { describe, expect, it, vi } from "vitest";
import { LockError } from "../../src/errors/lock-error.ts";
import {
  type LoadSignals,
  type OverloadCause,
  OverloadGuard,
  type OverloadLimits,
  overloadNow,
  SUSTAINED_MS,
} from "../../src/engine/overload-guard.ts";

const signalsOf = (lagMs: number, delayMs: number, heap: number): LoadSignals => ({
  renewalLagMs: () => lagMs,
  eventLoopDelayMs: () => delayMs,
  heapShare: () => heap,
});

describe("overloadNow", () => {
  it.each([
    // renewal lag, event-loop delay, heap share, lag limit, heap limit %, cause
    [0, 0, 0.1, 250, 50, undefined],
    [250, 250, 0.5, 250, 50, undefined], // at the limits: still taken
    [251, 0, 0.1, 250, 50, "renewal_lag"],
    [0, 251, 0.1, 250, 50, "event_loop_delay"],
    [0, 0, 0.51, 250, 50, "heap"],
    [900, 900, 0.9, 250, 50, "renewal_lag"], // renewal lag first: it is what loses leases
    [10_000, 10_000, 0.1, 0, 50, undefined], // 0 turns the lag checks off
    [10_000, 10_000, 0.9, 0, 50, "heap"], // ... but not the heap's
    [0, 0, 0.99, 250, 0, undefined], // 0 turns the heap check off
  ] as const)(
    "lag %i ms, delay %i ms, heap %f, limits %i ms / %i %% -> %s",
    (lag, delay, heap, lagMs, heapPercent, cause) => {
      expect(overloadNow(signalsOf(lag, delay, heap), { lagMs, heapPercent })?.cause).toBe(cause);
    },
  );
});

describe("OverloadGuard", () => {
  const limits: OverloadLimits = { lagMs: 250, heapPercent: 50, settleMs: 5000 };
  function guardWith() {
    const signals = { lagMs: 0, delayMs: 0, heap: 0.1 };
    const refused: OverloadCause[] = [];
    const clock = { nowMs: 1000 };
    const guard = new OverloadGuard(
      { renewalLagMs: () => signals.lagMs, eventLoopDelayMs: () => signals.delayMs, heapShare: () => signals.heap },
      limits,
      () => clock.nowMs,
      { overloadRefused: (cause) => refused.push(cause) },
    );
    return { signals, refused, clock, guard };
  }

  it("takes new work while every signal is under its limit", () => {
    const { signals, guard } = guardWith();
    Object.assign(signals, { lagMs: 40, delayMs: 200, heap: 0.45 });
    expect(guard.refusal()).toBeUndefined();
  });

  it("refuses with RESOURCE_EXHAUSTED naming the cause, the reading and the setting, and counts each refusal", () => {
    const { signals, refused, clock, guard } = guardWith();
    signals.lagMs = 812;
    const lag = guard.refusal();
    expect(lag).toBeInstanceOf(LockError);
    expect(lag).toMatchObject({
      code: "resource-exhausted",
      reason: "OVERLOADED",
      metadata: { setting: "LOCK_OVERLOAD_LAG", cause: "renewal_lag" },
    });
    expect(lag!.message).toMatch(/renewals of held leases are running 812 ms late, past LOCK_OVERLOAD_LAG \(250 ms\)/);

    Object.assign(signals, { lagMs: 0, delayMs: 300 });
    const delay = guard.refusal();
    expect(delay).toMatchObject({ metadata: { cause: "event_loop_delay" } });
    expect(delay!.message).toMatch(/the event loop was held up for 300 ms/);

    Object.assign(signals, { delayMs: 0, heap: 0.62 });
    const heap = guard.refusal();
    expect(heap).toMatchObject({ metadata: { setting: "LOCK_OVERLOAD_HEAP", cause: "heap" } });
    expect(heap!.message).toMatch(/62\.0 % of the heap limit is in use, past LOCK_OVERLOAD_HEAP \(50 %\)/);

    signals.heap = 0.1;
    clock.nowMs += limits.settleMs;
    expect(guard.refusal()).toBeUndefined();
    expect(refused).toEqual(["renewal_lag", "event_loop_delay", "heap"]);
  });

  /** Readings over the limit for `forMs`, one every 250 ms, as the sidecar's watch reads them. */
  function overFor(g: ReturnType<typeof guardWith>, forMs: number): void {
    for (let t = 0; t < forMs; t += 250) {
      expect(g.guard.refusal()).toBeDefined();
      g.clock.nowMs += 250;
    }
    expect(g.guard.refusal()).toBeDefined();
  }

  it("after an overload that lasted SUSTAINED_MS, keeps refusing until every signal has stayed under its limit for the settle time", () => {
    const g = guardWith();
    const { signals, refused, clock, guard } = g;
    signals.lagMs = 400;
    overFor(g, SUSTAINED_MS);
    signals.lagMs = 0;
    clock.nowMs += 2500;
    const settling = guard.refusal();
    expect(settling).toMatchObject({ reason: "OVERLOADED", metadata: { cause: "renewal_lag" } });
    expect(settling!.message).toMatch(/were running 400 ms late 2\.5 s ago.*LOCK_OVERLOAD_SETTLE \(5000 ms\)/);
    // A new sustained overload starts the settle time again.
    signals.delayMs = 260;
    overFor(g, SUSTAINED_MS);
    signals.delayMs = 0;
    clock.nowMs += 4999;
    expect(guard.refusal()).toMatchObject({ metadata: { cause: "event_loop_delay" } });
    clock.nowMs += 1;
    expect(guard.refusal()).toBeUndefined();
    expect(guard.refusal()).toBeUndefined();
    expect(refused.filter((c) => c === "renewal_lag").length).toBe(SUSTAINED_MS / 250 + 2);
  });

  it("refuses a shorter overload only while it lasts: one pause is not a load to wait out", () => {
    const g = guardWith();
    const { signals, clock, guard } = g;
    signals.lagMs = 700;
    overFor(g, SUSTAINED_MS - 250);
    signals.lagMs = 0;
    expect(guard.refusal()).toBeUndefined();
    // An under-reading in between starts the count again.
    signals.lagMs = 700;
    overFor(g, SUSTAINED_MS - 250);
    clock.nowMs += 250;
    signals.lagMs = 0;
    expect(guard.refusal()).toBeUndefined();
  });

  it("watch() reads the signals between calls, so an overload no call saw still starts the settle time", () => {
    vi.useFakeTimers();
    try {
      const g = guardWith();
      const stop = g.guard.watch(250);
      g.signals.heap = 0.9;
      for (let t = 0; t <= SUSTAINED_MS; t += 250) {
        g.clock.nowMs += 250;
        vi.advanceTimersByTime(250);
      }
      g.signals.heap = 0.1;
      g.clock.nowMs += 250;
      vi.advanceTimersByTime(250);
      expect(g.guard.refusal()).toMatchObject({ metadata: { cause: "heap" } });
      expect(g.refused).toEqual(["heap"]); // the watch counts no refusal
      stop();
      g.signals.heap = 0.9;
      vi.advanceTimersByTime(10_000);
      g.clock.nowMs += 10_000;
      g.signals.heap = 0.1;
      expect(g.guard.refusal()).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it("with a settle time of 0 takes work again as soon as the signals are under their limits", () => {
    const signals = { lagMs: 900 };
    const guard = new OverloadGuard(
      { renewalLagMs: () => signals.lagMs, eventLoopDelayMs: () => 0, heapShare: () => 0 },
      { ...limits, settleMs: 0 },
      () => 0,
    );
    expect(guard.refusal()).toBeDefined();
    signals.lagMs = 0;
    expect(guard.refusal()).toBeUndefined();
  });

  it("with every limit 0 never refuses and never reads the signals", () => {
    let reads = 0;
    const off = new OverloadGuard(
      { renewalLagMs: () => ++reads * 1e6, eventLoopDelayMs: () => ++reads * 1e6, heapShare: () => ++reads },
      { lagMs: 0, heapPercent: 0, settleMs: 5000 },
      () => 0,
    );
    expect(off.refusal()).toBeUndefined();
    expect(reads).toBe(0);
  });
});
