import type { Lease } from "./lease.ts";
import type { LeaseLostError } from "./lease-loss.ts";
import type { LeaseSession } from "./lease-session.ts";

/**
 * How a keeper stops. `release`: its owner asked (cancelled its own call);
 * `run-out`: anything else (its connection died, its deadline passed, the
 * sidecar shuts down, or it set expire_on_close): the lease is not renewed
 * any more and ends at the last end its owner was told.
 */
export type ClosePolicy = "release" | "run-out";

/** One stream (or other caller) that keeps a lease alive. */
export interface Keeper {
  /** Settles when the lease is lost, with why; never rejects. */
  readonly lost: Promise<LeaseLostError>;
  /** Stops keeping. The last keeper to stop decides what happens to the lease. */
  close(policy: ClosePolicy): Promise<void>;
}

/** What a keeper hears: each renewal, and the loss (also on `Keeper.lost`). */
export interface KeeperEvents {
  renewed(lease: Lease): void;
  lost?(loss: LeaseLostError): void;
  /**
   * The lease as this sidecar knows it, told instead of a renewal when a
   * keeper joins while renewals run late. A keeper without it always gets a
   * renewal at once.
   */
  known?(lease: Lease): void;
  /**
   * Its owner released the lease through Release while this keeper kept it:
   * the stream may end now, OK (ending it is cheaper for the client than
   * cancelling it, see docs/design.md). A keeper without it learns of the
   * release at the end it was last told, as a loss.
   */
  released?(): void;
}

/**
 * A keeper of a lease session. Its `lost` promise is made only when asked
 * for: a stream told through `KeeperEvents.lost` costs no promise.
 */
export class SessionKeeper implements Keeper {
  readonly ttlMs: number;
  readonly #session: LeaseSession;
  readonly #events: KeeperEvents;
  #loss: LeaseLostError | undefined;
  #lost: Promise<LeaseLostError> | undefined;
  #settle: ((loss: LeaseLostError) => void) | undefined;

  constructor(session: LeaseSession, ttlMs: number, events: KeeperEvents) {
    this.#session = session;
    this.ttlMs = ttlMs;
    this.#events = events;
  }

  get lost(): Promise<LeaseLostError> {
    if (!this.#lost) {
      const loss = this.#loss;
      this.#lost = loss ? Promise.resolve(loss) : new Promise((resolve) => (this.#settle = resolve));
    }
    return this.#lost;
  }

  close(policy: ClosePolicy): Promise<void> {
    return this.#session.leave(this, policy);
  }

  renewed(lease: Lease): void {
    this.#events.renewed(lease);
  }

  /** Tells the keeper its owner released the lease, if it ends on that (else it hears at the end last told). */
  ownerReleased(): void {
    if (!this.#loss) this.#events.released?.();
  }

  fail(loss: LeaseLostError): void {
    if (this.#loss) return;
    this.#loss = loss;
    this.#settle?.(loss);
    this.#events.lost?.(loss);
  }
}
