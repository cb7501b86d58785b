import type { Lease } from "./lease.ts";

/**
 * Leases this sidecar granted or renewed, so that it knows their validity
 * (a lease past its end is reported lost without asking instances) and can
 * release them on shutdown. Expired entries are dropped lazily. Entries are
 * keyed by the lease's secret, not the whole id: a copy of the id with an
 * altered token part must still meet the lease's known end.
 */
export class LeaseRegistry {
  readonly #leases = new Map<string, Lease>();
  #lastPruneMs = Number.NEGATIVE_INFINITY;

  get(leaseId: string): Lease | undefined {
    return this.#leases.get(secretOf(leaseId));
  }

  put(lease: Lease, nowMs: number): void {
    this.#leases.set(secretOf(lease.leaseId), lease);
    this.#prune(nowMs);
  }

  /** Forgets the lease, if it is the one on `name`. */
  delete(name: string, leaseId: string): void {
    const key = secretOf(leaseId);
    if (this.#leases.get(key)?.name === name) this.#leases.delete(key);
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

  #prune(nowMs: number, force = false): void {
    // At most once a second: pruning is O(n) and leases are plentiful.
    if (!force && nowMs - this.#lastPruneMs < 1000) return;
    this.#lastPruneMs = nowMs;
    for (const [id, lease] of this.#leases) if (lease.endMs <= nowMs) this.#leases.delete(id);
  }
}

function secretOf(leaseId: string): string {
  const dot = leaseId.indexOf(".");
  return dot < 0 ? leaseId : leaseId.slice(0, dot);
}
