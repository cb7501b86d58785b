import type { Interval } from "./checker.ts";

/**
 * Notes when this process's event loop ran late: on a starved machine (the
 * sidecars, instances and harness share a few cores with whatever else runs)
 * a timer due in `tickMs` fires much later. The harness's own lateness stands
 * for the machine's: while it lasts, no latency bound says anything about
 * the system under test, so the checker leaves liveness unjudged there.
 */
export class StallMonitor {
  readonly stalls: Interval[] = [];
  readonly #tickMs: number;
  readonly #thresholdMs: number;
  #timer: NodeJS.Timeout | undefined;
  #last = 0;

  constructor(options: { tickMs?: number; thresholdMs?: number } = {}) {
    this.#tickMs = options.tickMs ?? 10;
    this.#thresholdMs = options.thresholdMs ?? 50;
  }

  start(): void {
    this.#last = performance.now();
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = performance.now();
    if (now - this.#last > this.#tickMs + this.#thresholdMs) this.stalls.push({ start: this.#last, end: now });
    this.#last = now;
  }
}
