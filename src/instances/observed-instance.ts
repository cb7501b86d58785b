import type { Clock } from "../util/clock.ts";
import { InstanceDecorator } from "./instance-decorator.ts";
import type { LockInstance } from "./lock-instance.ts";

/**
 * Told about every finished call to one instance: how long it took until it
 * settled (not until the engine stopped waiting) and whether it succeeded.
 * Built once per instance, so observing a call allocates nothing of its own.
 */
export type InstanceCallObserver = (durationMs: number, ok: boolean) => void;

/**
 * A LockInstance that reports the latency and outcome of each call and
 * otherwise passes everything through unchanged (subscriptions and
 * lifecycle calls are not latencies worth a histogram). Decorating keeps the
 * instance implementations and the engine free of metrics code.
 */
export class ObservedInstance extends InstanceDecorator {
  readonly #clock: Clock;
  readonly #observe: InstanceCallObserver;

  constructor(inner: LockInstance, clock: Clock, observe: InstanceCallObserver) {
    super(inner);
    this.#clock = clock;
    this.#observe = observe;
  }

  /** Times a call until it settles and reports its outcome. */
  protected override async around<T>(call: () => Promise<T>): Promise<T> {
    const startMs = this.#clock.monotonicMs();
    try {
      const result = await call();
      this.#observe(this.#clock.monotonicMs() - startMs, true);
      return result;
    } catch (error) {
      this.#observe(this.#clock.monotonicMs() - startMs, false);
      throw error;
    }
  }
}
