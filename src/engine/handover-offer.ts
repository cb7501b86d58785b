/**
 * A waiting head's standing offer to take a lock over from a caller of this
 * sidecar who releases it: the release then runs the head's acquire in the
 * same script, so the lock passes in one round trip instead of a release, a
 * notice and a fresh attempt. An offer is taken at most once; once taken,
 * the head waits for the outcome, which the releasing side always delivers.
 */
export class HandoverOffer<Outcome> {
  readonly ttlMs: number;
  readonly owner: string;
  readonly ticket: () => string;
  readonly overtake: boolean;
  readonly signal: AbortSignal | undefined;
  readonly #wake: () => void;
  readonly #withdraw: () => void;
  #state: "open" | "taken" | "closed" = "open";
  #outcome: Promise<Outcome> | undefined;
  #deliver: ((outcome: Promise<Outcome>) => void) | undefined;

  constructor(terms: OfferTerms, withdraw: () => void) {
    this.ttlMs = terms.ttlMs;
    this.owner = terms.owner;
    this.ticket = terms.ticket;
    this.overtake = terms.overtake;
    this.signal = terms.signal;
    this.#wake = terms.wake;
    this.#withdraw = withdraw;
  }

  /** The releasing side claims the offer; false when it was already closed. */
  take(): boolean {
    if (this.#state !== "open") return false;
    this.#state = "taken";
    this.#withdraw();
    this.#outcome = new Promise((resolve) => (this.#deliver = resolve));
    // Awaited by the head once it wakes; until then a rejection is not unhandled.
    this.#outcome.catch(() => undefined);
    return true;
  }

  /** The releasing side hands in the outcome; the head wakes when it settles. */
  deliver(outcome: Promise<Outcome>): void {
    this.#deliver?.(outcome);
    outcome.then(this.#wake, this.#wake);
  }

  /**
   * The head stops offering. Undefined when the offer was never taken;
   * otherwise the outcome, which the head must await (a grant may be in it).
   */
  close(): Promise<Outcome> | undefined {
    if (this.#state === "open") {
      this.#state = "closed";
      this.#withdraw();
      return undefined;
    }
    return this.#outcome;
  }
}

export interface OfferTerms {
  /** The TTL the head asked for. */
  ttlMs: number;
  /** The head's owner: recorded with the lock when it is handed over. */
  owner: string;
  /** The head's waiting ticket, made when first needed. */
  ticket: () => string;
  /** The head belongs to the batch in progress: it goes before older tickets of other sidecars. */
  overtake: boolean;
  /** The head's call: a grant that lands after it aborted is rolled back. */
  signal: AbortSignal | undefined;
  /** Wakes the head from its wait. */
  wake: () => void;
}

/** The open offers, one per lock name (only a queue's head offers). */
export class HandoverOffers<Outcome> {
  readonly #offers = new Map<string, HandoverOffer<Outcome>>();

  offer(name: string, terms: OfferTerms): HandoverOffer<Outcome> {
    const offer: HandoverOffer<Outcome> = new HandoverOffer(terms, () => {
      if (this.#offers.get(name) === offer) this.#offers.delete(name);
    });
    this.#offers.set(name, offer);
    return offer;
  }

  /** Claims the open offer for `name`, if any. */
  take(name: string): HandoverOffer<Outcome> | undefined {
    const offer = this.#offers.get(name);
    return offer?.take() ? offer : undefined;
  }

  /** Open offers (for tests: none may outlive its waiter). */
  get size(): number {
    return this.#offers.size;
  }
}
