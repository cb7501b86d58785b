import type { Clock } from "../util/clock.ts";
import type { AcquireResult, Lease } from "./lease.ts";
import type { LeaseRegistry } from "./lease-registry.ts";

interface Remembered {
  /** The first call's outcome, shared by retries that arrive while it runs. */
  outcome: Promise<AcquireResult>;
  /** Once granted: the lease a retry gets back, while it lives. */
  lease?: Lease;
}

/**
 * Retry-safe Acquire (AIP-155 style): remembers which lease each
 * (name, request_id) was granted, so a retry whose first answer was lost
 * gets the same lease back instead of acquired = false. A retry that
 * arrives while the first call still runs shares its outcome. At most
 * `limit` ids are remembered, the oldest forgotten first; an id whose lease
 * ended, was released or lost is forgotten when next asked for.
 */
export class RequestIds {
  readonly #leases: LeaseRegistry;
  readonly #clock: Clock;
  readonly #limit: number;
  readonly #remembered = new Map<string, Remembered>();

  constructor(leases: LeaseRegistry, clock: Clock, limit = 10_000) {
    this.#leases = leases;
    this.#clock = clock;
    this.#limit = limit;
  }

  get size(): number {
    return this.#remembered.size;
  }

  /**
   * Whether a call with this id would be answered from memory: the lease an
   * earlier call was granted still lives here, or that call still runs.
   * Such a retry adds no lease, so overload does not refuse it (its client
   * would never learn the lease id it holds).
   */
  remembers(name: string, requestId: string): boolean {
    if (requestId === "") return false;
    const earlier = this.#remembered.get(`${name}\u0000${requestId}`);
    return earlier !== undefined && (earlier.lease === undefined || this.#live(earlier.lease) !== undefined);
  }

  /** `acquire`'s outcome, or the lease an earlier call with this id was granted if it still lives. */
  async acquire(name: string, requestId: string, acquire: () => Promise<AcquireResult>): Promise<AcquireResult> {
    const key = `${name}\u0000${requestId}`;
    const earlier = this.#remembered.get(key);
    if (earlier) {
      if (!earlier.lease) return this.#shared(key, earlier, acquire);
      const live = this.#live(earlier.lease);
      if (live) return { acquired: true, lease: live };
      this.#remembered.delete(key);
    }
    return this.#first(key, acquire);
  }

  /** A retry while the first call runs: its outcome, or a fresh try if that was not a grant. */
  async #shared(key: string, earlier: Remembered, acquire: () => Promise<AcquireResult>): Promise<AcquireResult> {
    const outcome = await earlier.outcome.catch(() => undefined);
    if (outcome?.acquired) {
      const live = this.#live(outcome.lease);
      if (live) return { acquired: true, lease: live };
    }
    if (this.#remembered.get(key) === earlier) this.#remembered.delete(key);
    return this.#first(key, acquire);
  }

  #first(key: string, acquire: () => Promise<AcquireResult>): Promise<AcquireResult> {
    const entry: Remembered = { outcome: acquire() };
    this.#remember(key, entry);
    entry.outcome.then(
      (result) => {
        if (result.acquired) entry.lease = result.lease;
        else if (this.#remembered.get(key) === entry) this.#remembered.delete(key);
      },
      () => {
        if (this.#remembered.get(key) === entry) this.#remembered.delete(key);
      },
    );
    return entry.outcome;
  }

  #remember(key: string, entry: Remembered): void {
    if (this.#remembered.size >= this.#limit) {
      const oldest = this.#remembered.keys().next().value;
      if (oldest !== undefined) this.#remembered.delete(oldest);
    }
    this.#remembered.set(key, entry);
  }

  /** The lease as this sidecar knows it now, if it still lives here (not ended, released or lost). */
  #live(lease: Lease): Lease | undefined {
    const known = this.#leases.get(lease.leaseId);
    if (!known || known.name !== lease.name || this.#leases.isLost(lease.leaseId)) return undefined;
    return known.endMs > this.#clock.monotonicMs() ? known : undefined;
  }
}
