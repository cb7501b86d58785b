import type { Clock } from "../redlock/clock.ts";
import type { AcquireReply, Announcement, ExtendItem, InstanceAcquire, LockInstance } from "./lock-instance.ts";

/**
 * Told about every finished call to one instance: how long it took until it
 * settled (not until the engine stopped waiting) and whether it succeeded.
 * Built once per instance, so observing a call allocates nothing of its own.
 */
export type InstanceCallObserver = (durationMs: number, ok: boolean) => void;

/**
 * A LockInstance that reports the latency and outcome of each call and
 * otherwise passes everything through unchanged. Decorating keeps the
 * instance implementations and the engine free of metrics code.
 */
export class ObservedInstance implements LockInstance {
  readonly name: string;
  readonly #inner: LockInstance;
  readonly #clock: Clock;
  readonly #observe: InstanceCallObserver;

  constructor(inner: LockInstance, clock: Clock, observe: InstanceCallObserver) {
    this.name = inner.name;
    this.#inner = inner;
    this.#clock = clock;
    this.#observe = observe;
  }

  /** Times a call until it settles and reports its outcome. */
  async #timed<T>(call: () => Promise<T>): Promise<T> {
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

  acquire(request: InstanceAcquire): Promise<AcquireReply> {
    return this.#timed(() => this.#inner.acquire(request));
  }

  extend(items: readonly ExtendItem[], adopt?: boolean): Promise<boolean[]> {
    return this.#timed(() => this.#inner.extend(items, adopt));
  }

  release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    return this.#timed(() => this.#inner.release(lockKey, secret, announce));
  }

  withdrawTicket(queueKey: string, ticket: string): Promise<void> {
    return this.#timed(() => this.#inner.withdrawTicket(queueKey, ticket));
  }

  raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    return this.#timed(() => this.#inner.raiseFence(fenceKey, token, fenceRetentionMs));
  }

  ping(): Promise<void> {
    return this.#timed(() => this.#inner.ping());
  }

  // Long-lived or lifecycle calls: not latencies worth a histogram.
  watchReleases(channel: string, onRelease: (tag: string) => void): Promise<() => void> {
    return this.#inner.watchReleases(channel, onRelease);
  }

  identify(): Promise<string> {
    return this.#inner.identify();
  }

  connectionEpoch(): number {
    return this.#inner.connectionEpoch();
  }

  waitUntilConnected(timeoutMs: number): Promise<void> {
    return this.#inner.waitUntilConnected(timeoutMs);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
