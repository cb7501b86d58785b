import { formatNotice } from "../engine/release-notice.ts";
import type { Clock } from "../redlock/clock.ts";
import { TicketQueues } from "./ticket-queues.ts";
import type { AcquireReply, Announcement, ExtendItem, HandoverReply, InstanceAcquire, InstanceRelease, LockInstance } from "./lock-instance.ts";

interface Entry {
  value: string;
  /** On the monotonic clock. */
  expiresAtMs: number;
}

/**
 * An instance living in this process: the embedded default when no instances
 * are configured. Same semantics as the Lua scripts, so the engine cannot
 * tell the difference. It protects nothing across processes.
 */
export class MemoryInstance implements LockInstance {
  readonly name: string;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  /** Waiting tickets, expiring on the monotonic clock. */
  readonly #tickets = new TicketQueues();
  readonly #watchers = new Map<string, Set<(tag: string) => void>>();

  constructor(name: string, clock: Clock) {
    this.name = name;
    this.#clock = clock;
  }

  async acquire(r: InstanceAcquire): Promise<AcquireReply> {
    return this.#acquire(r);
  }

  async handover(release: InstanceRelease, r: InstanceAcquire): Promise<HandoverReply> {
    const released = this.#release(release.lockKey, release.secret);
    // Overtaking is for a lock passed on, never for one found free.
    const acquire = this.#acquire(released ? r : { ...r, overtake: false });
    if (released && !acquire.granted && release.announce) this.#announce(release.announce);
    return { released, acquire };
  }

  #acquire(r: InstanceAcquire): AcquireReply {
    const now = this.#clock.monotonicMs();
    const first = this.#tickets.oldest(r.keys.queue, r.ticket, r.ticketTtlMs, now);
    const holder = this.#get(r.keys.lock);
    if (holder || (first !== undefined && first !== r.ticket && r.overtake !== true)) {
      return { granted: false, holderTtlMs: holder ? Math.ceil(holder.expiresAtMs - now) : -2 };
    }
    if (r.ticket !== "") this.#tickets.withdraw(r.keys.queue, r.ticket);
    this.#set(r.keys.lock, r.secret, r.ttlMs);
    const counter = this.#get(r.keys.fence);
    const fence = counter ? BigInt(counter.value) + 1n : BigInt(Math.floor(this.#clock.wallMs() * 1000));
    this.#set(r.keys.fence, fence.toString(), r.fenceRetentionMs);
    return { granted: true, fence };
  }

  async extend(items: readonly ExtendItem[], adopt = false): Promise<boolean[]> {
    return items.map(({ lockKey, secret, ttlMs }) => {
      const current = this.#get(lockKey);
      if (current ? current.value !== secret : !adopt) return false;
      this.#set(lockKey, secret, ttlMs);
      return true;
    });
  }

  async release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    const released = this.#release(lockKey, secret);
    if (released && announce) this.#announce(announce);
    return released;
  }

  #release(lockKey: string, secret: string): boolean {
    if (this.#get(lockKey)?.value !== secret) return false;
    this.#entries.delete(lockKey);
    return true;
  }

  #announce(announce: Announcement): void {
    const notice = formatNotice(announce.tag, this.#tickets.oldest(announce.queueKey, "", 0, this.#clock.monotonicMs()));
    for (const listener of this.#watchers.get(announce.channel) ?? []) queueMicrotask(() => listener(notice));
  }

  async withdrawTicket(queueKey: string, ticket: string): Promise<void> {
    this.#tickets.withdraw(queueKey, ticket);
  }

  async raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    const current = this.#get(fenceKey);
    const next = current && BigInt(current.value) >= token ? BigInt(current.value) : token;
    this.#set(fenceKey, next.toString(), fenceRetentionMs);
    return next;
  }

  async watchReleases(channel: string, onRelease: (tag: string) => void): Promise<() => void> {
    let listeners = this.#watchers.get(channel);
    if (!listeners) this.#watchers.set(channel, (listeners = new Set()));
    listeners.add(onRelease);
    return () => {
      listeners.delete(onRelease);
      if (listeners.size === 0) this.#watchers.delete(channel);
    };
  }

  async identify(): Promise<string> {
    return this.name;
  }

  connectionEpoch(): number {
    return 0;
  }

  async waitUntilConnected(): Promise<void> {}

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#entries.clear();
    this.#tickets.clear();
  }

  /** Keys held now (expired ones are dropped first): for tests and leak checks. */
  keyCount(): number {
    for (const key of [...this.#entries.keys()]) this.#get(key);
    return this.#entries.size;
  }

  #get(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAtMs <= this.#clock.monotonicMs()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #set(key: string, value: string, ttlMs: number): void {
    this.#entries.set(key, { value, expiresAtMs: this.#clock.monotonicMs() + ttlMs });
  }
}
