import { EventLoopDelay } from "./event-loop-delay.ts";
import { HeapShare } from "./heap-share.ts";

/** This process's own load signals (event loop and heap), sampled in the background until closed. */
export class ProcessLoad {
  readonly #loop = new EventLoopDelay();
  readonly #heap = new HeapShare();

  /** How long the event loop is being held up, in ms. */
  eventLoopDelayMs(): number {
    return this.#loop.delayMs();
  }

  /** The V8 heap in use as a share of its limit, at its lowest lately. */
  heapShare(): number {
    return this.#heap.share();
  }

  /** V8's heap limit, which follows the container's memory or --max-old-space-size. */
  heapLimitMiB(): number {
    return this.#heap.limitMiB();
  }

  close(): void {
    this.#loop.close();
    this.#heap.close();
  }
}
