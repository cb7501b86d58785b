import { getHeapStatistics } from "node:v8";

/** How often the heap is read (ms). */
const SAMPLE_MS = 250;
/** The reading is the lowest over about this long (ms). */
const WINDOW_MS = 10_000;

/**
 * How full the V8 heap is: the heap in use as a share of V8's heap limit,
 * at its lowest over the last 10 s. In use counts garbage not yet
 * collected, so a single reading swings with every allocation burst; the
 * lowest one lately is the closest to what a full collection leaves live,
 * which is what grows with the leases and streams kept here.
 */
export class HeapShare {
  readonly #limit = getHeapStatistics().heap_size_limit;
  readonly #samples: number[] = [];
  /** The lowest of the samples, worked out when one is taken rather than on every call that asks. */
  #lowest = 0;
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#read();
    this.#timer = setInterval(() => this.#read(), SAMPLE_MS);
    this.#timer.unref();
  }

  /** The lowest share read lately, 0 to 1. */
  share(): number {
    return this.#lowest;
  }

  /** The limit the share is of, in MiB. */
  limitMiB(): number {
    return Math.round(this.#limit / 1048576);
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #read(): void {
    this.#samples.push(getHeapStatistics().used_heap_size / this.#limit);
    if (this.#samples.length > WINDOW_MS / SAMPLE_MS) this.#samples.shift();
    this.#lowest = Math.min(...this.#samples);
  }
}
