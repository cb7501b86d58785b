/**
 * The largest value recorded over roughly the last `windowMs` (between one
 * and two windows): two windows side by side, the older dropped as time
 * moves on. Constant memory, whatever the rate of values.
 */
export class RecentMax {
  readonly #windowMs: number;
  #startMs = Number.NEGATIVE_INFINITY;
  #current = 0;
  #previous = 0;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  record(value: number, nowMs: number): void {
    this.#roll(nowMs);
    if (value > this.#current) this.#current = value;
  }

  read(nowMs: number): number {
    this.#roll(nowMs);
    return Math.max(this.#current, this.#previous);
  }

  #roll(nowMs: number): void {
    const passed = nowMs - this.#startMs;
    if (passed < this.#windowMs) return;
    this.#previous = passed < 2 * this.#windowMs ? this.#current : 0;
    this.#current = 0;
    this.#startMs = nowMs;
  }
}
