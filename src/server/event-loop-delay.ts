import { monitorEventLoopDelay } from "node:perf_hooks";

/** How finely the event loop's delay is sampled (ms); Node's timer for it. */
const RESOLUTION_MS = 10;
/** How often the samples are read and cleared: one window. */
const WINDOW_MS = 250;

/**
 * How long the event loop is being held up: the longest delay Node's
 * event-loop monitor (perf_hooks.monitorEventLoopDelay) saw, past its own
 * sampling interval, in each of the last two windows of 250 ms, whichever
 * is less. A loop that is late runs every timer late, renewals' included;
 * one pause alone (a long garbage collection, a SIGSTOP) says little about
 * the load to come, so it takes two windows in a row.
 */
export class EventLoopDelay {
  readonly #histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  readonly #timer: NodeJS.Timeout;
  #last = 0;
  #previous = 0;

  constructor() {
    this.#histogram.enable();
    this.#timer = setInterval(() => this.#read(), WINDOW_MS);
    this.#timer.unref();
  }

  /** The delay sustained over the last two windows, in ms. */
  delayMs(): number {
    return Math.min(this.#last, this.#previous);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }

  #read(): void {
    const h = this.#histogram;
    this.#previous = this.#last;
    this.#last = h.count > 0 ? Math.max(0, h.max / 1e6 - RESOLUTION_MS) : 0;
    h.reset();
  }
}
