import type { LockInstance } from "../instances/lock-instance.ts";
import { fanOut, fanOutUntil, type Settled } from "./fan-out.ts";

/**
 * The engine's calls to its instances, each bounded by the instance timeout.
 * Every fan-out is tracked until its last answer, so close() can let the
 * calls still out land before the connections go.
 */
export class InstanceCalls {
  readonly instances: readonly LockInstance[];
  readonly #timeoutMs: number;
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(instances: readonly LockInstance[], timeoutMs: number) {
    this.instances = instances;
    this.#timeoutMs = timeoutMs;
  }

  /** fanOutUntil over every instance. */
  fanOutUntil<T>(
    call: (instance: LockInstance) => Promise<T>,
    enough: (answers: readonly (Settled<T> | undefined)[]) => boolean,
  ): { first: Promise<Settled<T>[]>; all: Promise<Settled<T>[]> } {
    const fan = fanOutUntil(this.instances, this.#timeoutMs, call, enough);
    this.#track(fan.all);
    return fan;
  }

  /** fanOut over `instances`. */
  fanOut<T>(instances: readonly LockInstance[], call: (instance: LockInstance) => Promise<T>): Promise<Settled<T>[]> {
    const all = fanOut(instances, this.#timeoutMs, call);
    this.#track(all);
    return all;
  }

  /** Resolves once no call is out, counting calls started while it waits. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #track(all: Promise<unknown>): void {
    this.#inFlight.add(all);
    void all.then(() => this.#inFlight.delete(all));
  }
}
