import type { Lease } from "./lease.ts";
import type { LeaseId } from "./lease-id.ts";
import {
  LeaseSession,
  type Keeper,
  type KeeperEvents,
  type SessionContext,
  type SessionEngine,
} from "./lease-session.ts";
import { RecentMax } from "./recent-max.ts";
import { RenewalScheduler } from "./renewal-scheduler.ts";

/** Hears how late each renewal of a kept-alive lease was answered (metrics). */
export interface RenewalObserver {
  renewalAnswered(latenessMs: number): void;
}

/** Renewal lateness is judged over about this long. */
const LAG_WINDOW_MS = 1000;
/** Renewals this late make a new keeper of a lease known valid wait for its first renewal's due time. */
const BUSY_LAG_MS = 50;

/**
 * The lease sessions of one engine, one per lease kept alive here: a client
 * that reopens its stream (after a reconnect, say) joins the session its old
 * stream still keeps, rather than starting a second schedule beside it. They
 * share one renewal scheduler, and this object is the context they share.
 */
export class LeaseSessions implements SessionContext {
  readonly engine: SessionEngine;
  readonly retryDelayMs: number;
  readonly scheduler: RenewalScheduler;
  readonly #sessions = new Map<string, LeaseSession>();
  readonly #lateness = new RecentMax(LAG_WINDOW_MS);
  readonly #observer: RenewalObserver | undefined;

  /** `retryDelayMs`: pause before retrying a renewal that a majority did not answer. */
  constructor(engine: SessionEngine, retryDelayMs: number, observer?: RenewalObserver) {
    this.engine = engine;
    this.retryDelayMs = retryDelayMs;
    this.scheduler = new RenewalScheduler(engine.clock);
    this.#observer = observer;
  }

  /**
   * Keeps the lease alive for a new keeper; `on` hears of each renewal (and
   * of the loss). `granted`: the same call was just granted the lease and
   * told its end, so the first renewal waits for its due time instead of
   * going out at once (it would only repeat the grant: Hold's cycle was 12
   * instance commands dearer than Acquire and Release for it).
   */
  keep(
    name: string,
    lease: LeaseId,
    ttlMs: number,
    on: ((lease: Lease) => void) | KeeperEvents,
    granted = false,
  ): Keeper {
    const key = sessionKey(name, lease);
    let session = this.#sessions.get(key);
    if (!session) {
      session = new LeaseSession(this, key, name, lease);
      this.#sessions.set(key, session);
    }
    const events = typeof on === "function" ? { renewed: on } : on;
    if (granted) return session.join(ttlMs, { known: () => {}, ...events }, true);
    return session.join(ttlMs, events, this.renewalLagMs() > BUSY_LAG_MS);
  }

  /**
   * Whether a keeper of this lease adds no new lease to this sidecar: it is
   * kept alive here already, or this sidecar granted or renewed it and it is
   * still valid (taking it was already admitted).
   */
  holds(name: string, lease: LeaseId): boolean {
    if (this.#sessions.has(sessionKey(name, lease))) return true;
    const known = this.engine.leases.get(lease.text);
    return (
      known?.name === name && known.endMs > this.engine.clock.monotonicMs() && !this.engine.leases.isLost(lease.text)
    );
  }

  /**
   * Its owner released this lease through Release: a session keeping it
   * stops renewing and releasing. `released`: the release found it held, so
   * keepers that end on it end now (else it was lost already, and they learn
   * that at the end they were told).
   */
  releasedByOwner(name: string, lease: LeaseId, released: boolean): void {
    this.#sessions.get(sessionKey(name, lease))?.releasedByOwner(released);
  }

  /** Whether a stream (KeepAlive, Hold) keeps this lease alive here now. */
  keeps(name: string, lease: LeaseId): boolean {
    return (this.#sessions.get(sessionKey(name, lease))?.keepers ?? 0) > 0;
  }

  /** Leases kept alive now. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * How far renewals are behind: the longest any renewal waited past its due
   * time for its answer over about the last second, or the time the oldest
   * renewal due has not even been sent, whichever is longer.
   */
  renewalLagMs(): number {
    const nowMs = this.engine.clock.monotonicMs();
    return Math.max(this.#lateness.read(nowMs), this.scheduler.overdueMs(nowMs));
  }

  answered(latenessMs: number, nowMs: number): void {
    this.#lateness.record(latenessMs, nowMs);
    this.#observer?.renewalAnswered(latenessMs);
  }

  ended(session: LeaseSession): void {
    if (this.#sessions.get(session.key) === session) this.#sessions.delete(session.key);
  }
}

/** Keyed by the secret, not the whole id: a copy with an altered token part is the same lease. */
function sessionKey(name: string, lease: LeaseId): string {
  return `${name}\u0000${lease.secret}`;
}
