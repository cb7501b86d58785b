import { formatNotice } from "./release-notice.ts";
import type { Clock } from "../util/clock.ts";
import type {
  AcquireReply,
  Announcement,
  ExtendItem,
  HandoverReply,
  InstanceAcquire,
  InstanceRelease,
  LockKeys,
  LockReading,
} from "./lock-instance.ts";
import { patternRegExp } from "./key-pattern.ts";
import { holderOfValue, holdsSecret, lockValue } from "./script-args.ts";
import { TicketQueues } from "./ticket-queues.ts";

interface Entry {
  value: string;
  /** On the monotonic clock; undefined: no expiry (only keys put there by tests). */
  expiresAtMs: number | undefined;
}

/**
 * LockStore.notice's answer when nothing is published. A notice always has
 * a tag, so it is never empty.
 */
export const NO_NOTICE = "";

/** Stored entries looked at by each write, so the sweep keeps pace with the writes that fill the store. */
const SWEEP_PER_WRITE = 2;

export interface LockStoreOptions {
  /** First value of a missing fencing counter; default: the wall clock in microseconds, as the Lua script does. */
  fenceStart?: bigint | undefined;
}

/**
 * The Lua scripts' semantics (lua-scripts.ts) on keys held in this process,
 * synchronously: each method is one script run, atomic by construction.
 * The embedded MemoryInstance serves it; the engine tests' fake wraps it in
 * injected failures. Announcing is left to the caller: `notice` gives the
 * text a release would publish, NO_NOTICE when it would publish nothing.
 *
 * Expired keys are dropped when read, and by `sweep`, which looks at a
 * bounded number of entries per call and resumes where it stopped: every
 * write runs a small sweep, and MemoryInstance runs larger ones on a timer
 * for names nobody touches again.
 */
export class LockStore {
  readonly #clock: Clock;
  readonly #fenceStart: bigint | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #tickets = new TicketQueues();
  /** Where the next sweep resumes; undefined: start a new pass. */
  #cursor: MapIterator<[string, Entry]> | undefined;

  constructor(clock: Clock, options: LockStoreOptions = {}) {
    this.#clock = clock;
    this.#fenceStart = options.fenceStart;
  }

  /** ACQUIRE. */
  acquire(r: InstanceAcquire): AcquireReply {
    const now = this.#clock.monotonicMs();
    const first = this.#tickets.oldest(r.keys.queue, r.ticket, r.ticketTtlMs, now);
    const holder = this.get(r.keys.lock);
    if (holder || (first !== undefined && first !== r.ticket && r.overtake !== true)) {
      // PTTL: -1 without expiry, -2 for a free lock an older ticket waits for.
      const ttl = !holder ? -2 : holder.expiresAtMs === undefined ? -1 : Math.ceil(holder.expiresAtMs - now);
      return { granted: false, holderTtlMs: ttl };
    }
    if (r.ticket !== "") this.#tickets.withdraw(r.keys.queue, r.ticket);
    this.put(r.keys.lock, lockValue(r.secret, r.holder), r.ttlMs);
    // INCR, as the script does: a missing counter (or one INCR takes to 1) starts from the clock.
    const counter = this.get(r.keys.fence);
    const next = counter ? BigInt(counter.value) + 1n : 1n;
    const fence = next === 1n ? (this.#fenceStart ?? BigInt(Math.floor(this.#clock.wallMs() * 1000))) : next;
    this.put(r.keys.fence, fence.toString(), r.fenceRetentionMs);
    return { granted: true, fence };
  }

  /** RELEASE without its announcement: true when `secret` held the key and it was deleted. */
  release(lockKey: string, secret: string): boolean {
    if (!holdsSecret(this.get(lockKey)?.value, secret)) return false;
    this.#entries.delete(lockKey);
    return true;
  }

  /** HANDOVER without its announcement; `announce` says whether the script would publish. */
  handover(release: InstanceRelease, r: InstanceAcquire): HandoverReply & { announce: boolean } {
    const released = this.release(release.lockKey, release.secret);
    // Overtaking is for a lock passed on, never for one found free.
    const acquire = this.acquire(released ? r : { ...r, overtake: false });
    return { released, acquire, announce: released && !acquire.granted && release.announce !== undefined };
  }

  /**
   * EXTEND: per item, true when its secret held the key (or, with `adopt`,
   * the key was missing). A held key's TTL only grows, never shrinks.
   */
  extend(items: readonly ExtendItem[], adopt: boolean): boolean[] {
    return items.map(({ lockKey, secret, ttlMs }) => {
      const current = this.get(lockKey);
      if (current ? !holdsSecret(current.value, secret) : !adopt) return false;
      const untilMs = this.#clock.monotonicMs() + ttlMs;
      if (current && (current.expiresAtMs === undefined || current.expiresAtMs >= untilMs)) return true;
      // PEXPIRE keeps the value and its holder; an adopted key holds the secret alone.
      this.put(lockKey, current?.value ?? secret, ttlMs);
      return true;
    });
  }

  /** WITHDRAW_TICKET. */
  withdrawTicket(queueKey: string, ticket: string): void {
    this.#tickets.withdraw(queueKey, ticket);
  }

  /** READ_LOCK: the lock's TTL, holder, counter and live tickets; nothing is written or dropped. */
  readLock(keys: LockKeys): LockReading {
    const nowMs = this.#clock.monotonicMs();
    const entry = this.get(keys.lock);
    const fence = this.get(keys.fence)?.value;
    return {
      ttlMs: !entry ? -2 : entry.expiresAtMs === undefined ? -1 : Math.ceil(entry.expiresAtMs - nowMs),
      holder: entry ? holderOfValue(entry.value) : undefined,
      fence: fence === undefined ? undefined : BigInt(fence),
      tickets: this.#tickets.live(keys.queue, nowMs).length,
    };
  }

  /** RAISE_FENCE: the counter after raising it to at least `token`. */
  raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): bigint {
    const current = this.get(fenceKey);
    const next = current && BigInt(current.value) >= token ? BigInt(current.value) : token;
    this.put(fenceKey, next.toString(), fenceRetentionMs);
    return next;
  }

  /**
   * What a release publishes: its tag and the oldest live ticket
   * (release-notice.ts). NO_NOTICE when no live ticket waits: the scripts
   * then publish nothing, and LocalChannels drops it.
   */
  notice(announce: Announcement): string {
    const next = this.#tickets.oldest(announce.queueKey, "", 0, this.#clock.monotonicMs());
    return next === undefined ? NO_NOTICE : formatNotice(announce.tag, next);
  }

  /** A live key (expired ones are dropped on the way). */
  get(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry?.expiresAtMs !== undefined && entry.expiresAtMs <= this.#clock.monotonicMs()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Writes a key directly; ttl undefined: no expiry. */
  put(key: string, value: string, ttlMs: number | undefined): void {
    this.sweep(SWEEP_PER_WRITE);
    this.#entries.set(key, { value, expiresAtMs: ttlMs === undefined ? undefined : this.#clock.monotonicMs() + ttlMs });
  }

  drop(key: string): void {
    this.#entries.delete(key);
  }

  /**
   * The longest remaining TTL of the live keys matching a SCAN pattern: 0
   * without any, Infinity when one has no expiry (LONGEST_TTL's semantics).
   */
  longestTtlMs(pattern: string): number {
    const match = patternRegExp(pattern);
    const nowMs = this.#clock.monotonicMs();
    let longest = 0;
    for (const [key, entry] of this.#entries) {
      if (!match.test(key)) continue;
      if (entry.expiresAtMs === undefined) return Number.POSITIVE_INFINITY;
      longest = Math.max(longest, Math.ceil(entry.expiresAtMs - nowMs));
    }
    return longest;
  }

  /** Live keys. */
  keys(): string[] {
    return [...this.#entries.keys()].filter((key) => this.get(key) !== undefined);
  }

  /** Live waiting tickets of a queue, oldest first. */
  tickets(queueKey: string): string[] {
    return this.#tickets.live(queueKey, this.#clock.monotonicMs());
  }

  /**
   * Drops expired keys and tickets, looking at no more than `budget` keys
   * and about `budget` tickets. Nothing a script can see changes: an expired
   * entry already reads as missing, and the clock never goes back.
   */
  sweep(budget: number): void {
    const now = this.#clock.monotonicMs();
    let wrapped = false;
    for (let looked = 0; looked < budget; looked++) {
      let next = (this.#cursor ??= this.#entries.entries()).next();
      // A finished iterator stays finished, even if keys are added later: start over, once per call.
      if (next.done && !wrapped) {
        wrapped = true;
        next = (this.#cursor = this.#entries.entries()).next();
      }
      if (next.done) {
        this.#cursor = undefined;
        break;
      }
      const [key, entry] = next.value;
      if (entry.expiresAtMs !== undefined && entry.expiresAtMs <= now) this.#entries.delete(key);
    }
    this.#tickets.sweep(budget, now);
  }

  /** How much is stored, expired or not: for leak checks (nothing is dropped on the way). */
  size(): { entries: number; ticketQueues: number } {
    return { entries: this.#entries.size, ticketQueues: this.#tickets.size };
  }

  clear(): void {
    this.#cursor = undefined;
    this.#entries.clear();
    this.#tickets.clear();
  }
}
