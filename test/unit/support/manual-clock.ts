import type { Clock } from "../../../src/util/clock.ts";

/**
 * A Clock that only moves when a test says so. `advance` moves the monotonic
 * and the wall clock together; `stepWall` moves only the wall clock (an NTP
 * step), which must never change how elapsed time is measured.
 */
export class ManualClock implements Clock {
  #monotonicMs: number;
  #wallMs: number;

  constructor(start: { monotonicMs?: number; wallMs?: number } = {}) {
    this.#monotonicMs = start.monotonicMs ?? 10_000;
    this.#wallMs = start.wallMs ?? Date.UTC(2025, 0, 1);
  }

  monotonicMs(): number {
    return this.#monotonicMs;
  }

  wallMs(): number {
    return this.#wallMs;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`a monotonic clock cannot move by ${ms} ms`);
    this.#monotonicMs += ms;
    this.#wallMs += ms;
  }

  stepWall(ms: number): void {
    this.#wallMs += ms;
  }
}
