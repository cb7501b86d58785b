import type {
  AcquireReply,
  Announcement,
  ExtendItem,
  HandoverReply,
  InstanceAcquire,
  InstanceIdentity,
  InstanceRelease,
  LockInstance,
  LockKeys,
  LockReading,
} from "./lock-instance.ts";

/**
 * Base of the decorators that wrap each call to an instance (observing its
 * latency, guarding its votes): a subclass says what happens around a call;
 * subscriptions and lifecycle calls pass straight through.
 */
export abstract class InstanceDecorator implements LockInstance {
  readonly name: string;
  protected readonly inner: LockInstance;

  constructor(inner: LockInstance) {
    this.name = inner.name;
    this.inner = inner;
  }

  protected abstract around<T>(call: () => Promise<T>): Promise<T>;

  acquire(request: InstanceAcquire): Promise<AcquireReply> {
    return this.around(() => this.inner.acquire(request));
  }

  extend(items: readonly ExtendItem[], adopt?: boolean): Promise<boolean[]> {
    return this.around(() => this.inner.extend(items, adopt));
  }

  release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    return this.around(() => this.inner.release(lockKey, secret, announce));
  }

  handover(release: InstanceRelease, acquire: InstanceAcquire): Promise<HandoverReply> {
    return this.around(() => this.inner.handover(release, acquire));
  }

  withdrawTicket(queueKey: string, ticket: string): Promise<void> {
    return this.around(() => this.inner.withdrawTicket(queueKey, ticket));
  }

  raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    return this.around(() => this.inner.raiseFence(fenceKey, token, fenceRetentionMs));
  }

  ping(): Promise<void> {
    return this.around(() => this.inner.ping());
  }

  /** A read, but its answer counts like a vote: a restarted instance's "free" must not. */
  readLock(keys: LockKeys): Promise<LockReading> {
    return this.around(() => this.inner.readLock(keys));
  }

  /** A scan, not a vote: straight through. */
  longestTtlMs(pattern: string): Promise<number> {
    return this.inner.longestTtlMs(pattern);
  }

  watchReleases(channel: string, onRelease: (tag: string) => void): Promise<() => void> {
    return this.inner.watchReleases(channel, onRelease);
  }

  identify(): Promise<InstanceIdentity> {
    return this.inner.identify();
  }

  connectionEpoch(): number {
    return this.inner.connectionEpoch();
  }

  waitUntilConnected(timeoutMs: number): Promise<void> {
    return this.inner.waitUntilConnected(timeoutMs);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
