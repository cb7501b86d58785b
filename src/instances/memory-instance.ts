import type { Clock } from "../redlock/clock.ts";
import type { AcquireReply, Announcement, ExtendItem, HandoverReply, InstanceAcquire, InstanceIdentity, InstanceRelease, LockInstance } from "./lock-instance.ts";
import { LocalChannels } from "./local-channels.ts";
import { LockStore } from "./lock-store.ts";

/**
 * An instance living in this process: the embedded default when no instances
 * are configured. Same semantics as the Lua scripts (LockStore), so the
 * engine cannot tell the difference. It protects nothing across processes.
 */
export class MemoryInstance implements LockInstance {
  readonly name: string;
  readonly #store: LockStore;
  readonly #channels = new LocalChannels();
  readonly #clock: Clock;
  readonly #startedMs: number;

  constructor(name: string, clock: Clock) {
    this.name = name;
    this.#store = new LockStore(clock);
    this.#clock = clock;
    this.#startedMs = clock.monotonicMs();
  }

  async acquire(r: InstanceAcquire): Promise<AcquireReply> {
    return this.#store.acquire(r);
  }

  async handover(release: InstanceRelease, r: InstanceAcquire): Promise<HandoverReply> {
    const { released, acquire, announce } = this.#store.handover(release, r);
    if (announce && release.announce) this.#announce(release.announce);
    return { released, acquire };
  }

  async extend(items: readonly ExtendItem[], adopt = false): Promise<boolean[]> {
    return this.#store.extend(items, adopt);
  }

  async release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    const released = this.#store.release(lockKey, secret);
    if (released && announce) this.#announce(announce);
    return released;
  }

  async withdrawTicket(queueKey: string, ticket: string): Promise<void> {
    this.#store.withdrawTicket(queueKey, ticket);
  }

  async raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    return this.#store.raiseFence(fenceKey, token, fenceRetentionMs);
  }

  async watchReleases(channel: string, onRelease: (tag: string) => void): Promise<() => void> {
    return this.#channels.subscribe(channel, onRelease);
  }

  async identify(): Promise<InstanceIdentity> {
    return { runId: this.name, uptimeMs: this.#clock.monotonicMs() - this.#startedMs };
  }

  connectionEpoch(): number {
    return 0;
  }

  async waitUntilConnected(): Promise<void> {}

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#store.clear();
  }

  /** Keys held now (expired ones are dropped first): for tests and leak checks. */
  keyCount(): number {
    return this.#store.keys().length;
  }

  #announce(announce: Announcement): void {
    this.#channels.publish(announce.channel, this.#store.notice(announce));
  }
}
