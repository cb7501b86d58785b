import type { Lease } from "./lease.ts";
import type { LeaseId } from "./lease-id.ts";
import { LeaseSession, type Keeper, type SessionEngine } from "./lease-session.ts";

/**
 * The lease sessions of one engine, one per lease kept alive here: a client
 * that reopens its stream (after a reconnect, say) joins the session its old
 * stream still keeps, rather than starting a second schedule beside it.
 */
export class LeaseSessions {
  readonly #engine: SessionEngine;
  readonly #retryDelayMs: number;
  readonly #sessions = new Map<string, LeaseSession>();

  /** `retryDelayMs`: pause before retrying a renewal that a majority did not answer. */
  constructor(engine: SessionEngine, retryDelayMs: number) {
    this.#engine = engine;
    this.#retryDelayMs = retryDelayMs;
  }

  /** Keeps the lease alive for a new keeper; `onRenewed` hears of each renewal. */
  keep(name: string, lease: LeaseId, ttlMs: number, onRenewed: (lease: Lease) => void): Keeper {
    // Keyed by the secret, not the whole id: a copy with an altered token part is the same lease.
    const key = `${name}\u0000${lease.secret}`;
    let session = this.#sessions.get(key);
    if (!session) {
      const created = new LeaseSession(this.#engine, name, lease, this.#retryDelayMs, () => {
        if (this.#sessions.get(key) === created) this.#sessions.delete(key);
      });
      this.#sessions.set(key, created);
      session = created;
    }
    return session.join(ttlMs, onRenewed);
  }

  /** Leases kept alive now. */
  get size(): number {
    return this.#sessions.size;
  }
}
