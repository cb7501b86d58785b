import { setImmediate as realSetImmediate } from "node:timers/promises";
import { vi } from "vitest";
import type { ManualClock } from "./manual-clock.ts";

/**
 * Drives code that sleeps with setTimeout (the engine's per-instance
 * timeouts, retry pauses, keep-alive schedule) under vitest fake timers,
 * keeping a ManualClock in lockstep with fake time: each step moves the
 * clock by `stepMs`, then fires the timers due, then lets every promise
 * chain run. Instance fakes answer through microtasks only, so nothing here
 * depends on real time.
 */
export class FakeTime {
  readonly clock: ManualClock;
  readonly stepMs: number;

  constructor(clock: ManualClock, stepMs = 1) {
    this.clock = clock;
    this.stepMs = stepMs;
  }

  /** Call in beforeEach; `vi.useRealTimers()` in afterEach. */
  static install(): void {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  }

  /** Runs every promise chain and zero-delay timer that is ready, without moving time. */
  async flush(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(0);
      // setImmediate from node:timers/promises is not faked: it runs after the
      // microtask queue has drained.
      await realSetImmediate();
    }
  }

  /**
   * Moves fake time and the clock forward by `ms`, firing timers as they fall
   * due; a coarser `stepMs` is faster but lets timers fire up to a step late.
   */
  async elapse(ms: number, stepMs = this.stepMs): Promise<void> {
    await this.flush();
    for (let moved = 0; moved < ms; moved += stepMs) {
      const step = Math.min(stepMs, ms - moved);
      this.clock.advance(step);
      await vi.advanceTimersByTimeAsync(step);
      await this.flush();
    }
  }

  /** Moves time forward until `promise` settles; fails after `maxMs` of fake time. */
  async settle<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    const outcome: { settled?: { ok: true; value: T } | { ok: false; error: unknown } } = {};
    promise.then(
      (value) => (outcome.settled = { ok: true, value }),
      (error: unknown) => (outcome.settled = { ok: false, error }),
    );
    await this.flush();
    for (let moved = 0; outcome.settled === undefined; moved += this.stepMs) {
      if (moved >= maxMs) throw new Error(`still pending after ${maxMs} ms of fake time`);
      this.clock.advance(this.stepMs);
      await vi.advanceTimersByTimeAsync(this.stepMs);
      await this.flush();
    }
    if (outcome.settled.ok) return outcome.settled.value;
    throw outcome.settled.error;
  }

  /** Like settle, but expects a rejection and returns the error. */
  async rejection(promise: Promise<unknown>, maxMs = 60_000): Promise<unknown> {
    try {
      await this.settle(promise, maxMs);
    } catch (error) {
      return error;
    }
    throw new Error("expected the promise to reject, but it resolved");
  }
}
