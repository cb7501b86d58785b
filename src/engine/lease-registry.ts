import type { Lease } from "./lease.ts";

/** How a lease granted here stopped being held, as this sidecar knows it. */
export type LeaseEnd = "released" | "expired" | "lost";

export const LEASE_ENDS: readonly LeaseEnd[] = ["released", "expired", "lost"];

/**
 * Told once for each lease this sidecar granted, when it leaves the live set:
 * how long it was held (grant to release, loss, or the last end known here) and how.
 */
export type LeaseEndObserver = (heldMs: number, end: LeaseEnd) => void;

/**
 * Leases this sidecar granted or renewed, so that it knows their validity
 * (a lease past its end is refused without asking instances) and how many
 * it holds. Entries are keyed by the lease's secret, not the
 * whole id: a copy of the id with an altered token part must still meet the
 * lease's known end. Expired entries leave the live set lazily but are
 * remembered for one more TTL, by when their keys have expired everywhere:
 * until then an Extend must still meet the end it missed, or it would renew
 * a key that outlived its lease by the drift allowance.
 */
export class LeaseRegistry {
  readonly #leases = new Map<string, Lease>();
  readonly #expired = new Map<string, Lease>();
  /** Leases found lost (see expire): a renewal that lands later must not bring them back. */
  readonly #lost = new Set<string>();
  #lastPruneMs = Number.NEGATIVE_INFINITY;
  readonly #onEnd: LeaseEndObserver | undefined;

  constructor(onEnd?: LeaseEndObserver) {
    this.#onEnd = onEnd;
  }

  /** The lease with this id's secret, live or recently expired (compare its endMs). */
  get(leaseId: string): Lease | undefined {
    const key = secretOf(leaseId);
    return this.#leases.get(key) ?? this.#expired.get(key);
  }

  put(lease: Lease, nowMs: number): void {
    const key = secretOf(lease.leaseId);
    this.#expired.delete(key);
    this.#leases.set(key, lease);
    this.#prune(nowMs);
  }

  /**
   * The lease on `name` is lost: it leaves the live set at once but is
   * remembered as ended (at `nowMs` at the latest), so further Extends are
   * refused here rather than sent to the instances.
   */
  expire(name: string, leaseId: string, nowMs: number): void {
    const key = secretOf(leaseId);
    const lease = this.#leases.get(key) ?? this.#expired.get(key);
    if (lease?.name !== name) return;
    if (this.#leases.delete(key)) this.#ended(lease, nowMs, "lost");
    this.#expired.set(key, { ...lease, endMs: Math.min(lease.endMs, nowMs), grantedMs: undefined });
    this.#lost.add(key);
  }

  /** Whether the lease was found lost here (expire) and not released since. */
  isLost(leaseId: string): boolean {
    return this.#lost.has(secretOf(leaseId));
  }

  /** Forgets the lease, if it is the one on `name`: it was released at `nowMs`. */
  delete(name: string, leaseId: string, nowMs: number): void {
    const key = secretOf(leaseId);
    const lease = this.#leases.get(key);
    if (lease?.name === name) {
      this.#leases.delete(key);
      this.#ended(lease, nowMs, "released");
    }
    if (this.#expired.get(key)?.name === name) {
      this.#expired.delete(key);
      this.#lost.delete(key);
    }
  }

  /** Leases still valid at `nowMs`. */
  valid(nowMs: number): Lease[] {
    this.#prune(nowMs, true);
    return [...this.#leases.values()];
  }

  get size(): number {
    return this.#leases.size;
  }

  /** Leases held at `nowMs` (expired ones pruned at most once a second, so it may run slightly high). */
  sizeAt(nowMs: number): number {
    this.#prune(nowMs);
    return this.#leases.size;
  }

  /** Tells how long a lease granted here was held; one past its end when it left had expired, whatever ended it. */
  #ended(lease: Lease, nowMs: number, end: LeaseEnd): void {
    if (lease.grantedMs === undefined || this.#onEnd === undefined) return;
    const endMs = Math.min(lease.endMs, nowMs);
    this.#onEnd(Math.max(0, endMs - lease.grantedMs), lease.endMs <= nowMs ? "expired" : end);
  }

  #prune(nowMs: number, force = false): void {
    // At most once a second: pruning is O(n) and leases are plentiful.
    if (!force && nowMs - this.#lastPruneMs < 1000) return;
    this.#lastPruneMs = nowMs;
    for (const [id, lease] of this.#leases) {
      if (lease.endMs > nowMs) continue;
      this.#leases.delete(id);
      this.#ended(lease, nowMs, "expired");
      // Held time is told once: a renewal that revives the entry must not count it again.
      this.#expired.set(id, lease.grantedMs === undefined ? lease : { ...lease, grantedMs: undefined });
    }
    for (const [id, lease] of this.#expired) {
      if (lease.endMs + lease.ttlMs > nowMs) continue;
      this.#expired.delete(id);
      this.#lost.delete(id);
    }
  }
}

function secretOf(leaseId: string): string {
  const dot = leaseId.indexOf(".");
  return dot < 0 ? leaseId : leaseId.slice(0, dot);
}
