import type { Lease } from "./lease.ts";

/**
 * Leases this sidecar granted or renewed, so that it knows their validity
 * (a lease past its end is reported lost without asking instances) and can
 * release them on shutdown. Expired entries are dropped lazily.
 */
export class LeaseRegistry {
  readonly #leases = new Map<string, Lease>();
  #lastPruneMs = Number.NEGATIVE_INFINITY;

  get(leaseId: string): Lease | undefined {
    return this.#leases.get(leaseId);
  }

  put(lease: Lease, nowMs: number): void {
    this.#leases.set(lease.leaseId, lease);
    this.#prune(nowMs);
  }

  delete(leaseId: string): void {
    this.#leases.delete(leaseId);
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
