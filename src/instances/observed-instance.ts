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

  async acquire(request: InstanceAcquire): Promise<AcquireReply> {
    const startMs = this.#clock.monotonicMs();
    try {
      const reply = await this.#inner.acquire(request);
      this.#observe(this.#clock.monotonicMs() - startMs, true);
      return reply;
    } catch (error) {
      this.#observe(this.#clock.monotonicMs() - startMs, false);
      throw error;
    }
  }

  async extend(items: readonly ExtendItem[], adopt?: boolean): Promise<boolean[]> {
    const startMs = this.#clock.monotonicMs();
    try {
      const extended = await this.#inner.extend(items, adopt);
      this.#observe(this.#clock.monotonicMs() - startMs, true);
      return extended;
    } catch (error) {
      this.#observe(this.#clock.monotonicMs() - startMs, false);
      throw error;
    }
  }

  async release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    const startMs = this.#clock.monotonicMs();
    try {
      const released = await this.#inner.release(lockKey, secret, announce);
      this.#observe(this.#clock.monotonicMs() - startMs, true);
      return released;
    } catch (error) {
      this.#observe(this.#clock.monotonicMs() - startMs, false);
      throw error;
    }
  }

  async withdrawTicket(queueKey: string, ticket: string): Promise<void> {
    const startMs = this.#clock.monotonicMs();
    try {
      await this.#inner.withdrawTicket(queueKey, ticket);
      this.#observe(this.#clock.monotonicMs() - startMs, true);
    } catch (error) {
      this.#observe(this.#clock.monotonicMs() - startMs, false);
      throw error;
    }
  }

  async raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    const startMs = this.#clock.monotonicMs();
    try {
      const fence = await this.#inner.raiseFence(fenceKey, token, fenceRetentionMs);
      this.#observe(this.#clock.monotonicMs() - startMs, true);
      return fence;
    } catch (error) {
      this.#observe(this.#clock.monotonicMs() - startMs, false);
      throw error;
    }
  }

  async ping(): Promise<void> {
    const startMs = this.#clock.monotonicMs();
    try {
      await this.#inner.ping();
      this.#observe(this.#clock.monotonicMs() - startMs, true);
    } catch (error) {
      this.#observe(this.#clock.monotonicMs() - startMs, false);
      throw error;
    }
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
