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

/** Which call a decorator wraps: the script (or PING) it runs on the instance. */
export type InstanceOperation =
  | "acquire"
  | "extend"
  | "release"
  | "handover"
  | "withdraw_ticket"
  | "raise_fence"
  | "read_lock"
  | "ping";

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

  protected abstract around<T>(call: () => Promise<T>, operation: InstanceOperation): Promise<T>;

  acquire(request: InstanceAcquire): Promise<AcquireReply> {
    return this.around(() => this.inner.acquire(request), "acquire");
  }

  extend(items: readonly ExtendItem[], adopt?: boolean): Promise<boolean[]> {
    return this.around(() => this.inner.extend(items, adopt), "extend");
  }

  release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    return this.around(() => this.inner.release(lockKey, secret, announce), "release");
  }

  handover(release: InstanceRelease, acquire: InstanceAcquire): Promise<HandoverReply> {
    return this.around(() => this.inner.handover(release, acquire), "handover");
  }

  withdrawTicket(queueKey: string, ticket: string): Promise<void> {
    return this.around(() => this.inner.withdrawTicket(queueKey, ticket), "withdraw_ticket");
  }

  raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    return this.around(() => this.inner.raiseFence(fenceKey, token, fenceRetentionMs), "raise_fence");
  }

  ping(): Promise<void> {
    return this.around(() => this.inner.ping(), "ping");
  }

  /** A read, but its answer counts like a vote: a restarted instance's "free" must not. */
  readLock(keys: LockKeys): Promise<LockReading> {
    return this.around(() => this.inner.readLock(keys), "read_lock");
  }

  /** A scan, not a vote: straight through. */
  longestTtlMs(pattern: string, signal?: AbortSignal): Promise<number> {
    return this.inner.longestTtlMs(pattern, signal);
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

  /**
   * `instance` itself or the first instance it wraps that is a `kind`: how
   * status finds the guards under a decorator laid over them (tracing).
   */
  static find<T>(instance: LockInstance, kind: abstract new (...args: never[]) => T): T | undefined {
    let at: LockInstance | undefined = instance;
    while (at !== undefined) {
      if (at instanceof kind) return at;
      at = at instanceof InstanceDecorator ? at.inner : undefined;
    }
    return undefined;
  }
}
