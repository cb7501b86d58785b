import { LockError } from "../errors/lock-error.ts";
import type { Lease } from "./lease.ts";
import type { LeaseId } from "./lease-id.ts";
import type { LockEngine } from "./lock-engine.ts";

/** What a lease session needs of the engine (an interface, so tests can drive it). */
export type SessionEngine = Pick<LockEngine, "extend" | "release" | "leases" | "clock">;

/** Why a kept-alive lease was given up for lost. */
export type LeaseLossReason =
  /** The instances no longer hold it: expired, released or taken over. */
  | "not_held"
  /** No majority confirmed a renewal before the end last told to its owner. */
  | "unconfirmed"
  /** The first renewal of a lease this sidecar did not grant found no majority. */
  | "unavailable"
  /** Anything else (a bug). */
  | "error";

export const LEASE_LOSS_REASONS: readonly LeaseLossReason[] = ["not_held", "unconfirmed", "unavailable", "error"];

/** A kept-alive lease is lost: its keepers must stop their work. */
export class LeaseLostError extends LockError {
  readonly lossReason: LeaseLossReason;

  constructor(reason: LeaseLossReason, message: string, cause?: unknown) {
    // A lease whose renewals went unconfirmed ran out: say so to a program, not just "not held".
    super(reason === "unavailable" ? "unavailable" : "not-held", message, { cause, ...(reason === "unconfirmed" ? { reason: "LEASE_EXPIRED" as const } : {}) });
    this.lossReason = reason;
  }
}

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

interface KeeperState {
  ttlMs: number;
  onRenewed: (lease: Lease) => void;
  fail: (loss: LeaseLostError) => void;
}

/**
 * When to renew next: about a third of the TTL from now, rounded up to a
 * tick (at most 100 ms, a thirtieth of the TTL for short ones) shared by
 * every lease, so renewals due together go to the instances as one batch.
 */
export function renewalDueMs(nowMs: number, ttlMs: number): number {
  const tickMs = Math.min(100, Math.max(1, Math.floor(ttlMs / 30)));
  return Math.ceil((nowMs + ttlMs / 3) / tickMs) * tickMs;
}

/**
 * The life of one kept-alive lease on this sidecar, however many streams
 * keep it: one renewal schedule, loss detection, late renewals and what
 * happens when the last keeper stops. Rule it keeps (docs/design.md): once
 * an owner was told "held until E", the lease is not released before E
 * unless the owner asked, and a loss is reported no later than E.
 */
export class LeaseSession {
  readonly #engine: SessionEngine;
  readonly #lease: LeaseId;
  readonly #name: string;
  readonly #retryDelayMs: number;
  readonly #onEnded: () => void;
  readonly #keepers = new Set<KeeperState>();
  /** The end last reported to keepers, on the monotonic clock. */
  #toldEndMs: number | undefined;
  #dueMs = Number.NEGATIVE_INFINITY;
  #lost: LeaseLostError | undefined;
  #running = false;
  #wake: (() => void) | undefined;
  /** The renewal out now (settled, never rejects): a release waits for it. */
  #renewing: Promise<unknown> = Promise.resolve();
  /** Set once the last keeper left asking for a release; settles when it is done. */
  #releasing: Promise<void> | undefined;

  constructor(engine: SessionEngine, name: string, lease: LeaseId, retryDelayMs: number, onEnded: () => void) {
    this.#engine = engine;
    this.#name = name;
    this.#lease = lease;
    this.#retryDelayMs = retryDelayMs;
    this.#onEnded = onEnded;
  }

  /** A new keeper: the lease is renewed at once, and its owner told after each renewal. */
  join(ttlMs: number, onRenewed: (lease: Lease) => void): Keeper {
    if (this.#releasing) {
      // Its owner just asked for it to go: a stream that joins now finds it released.
      const released = new LeaseLostError("not_held", `lock ${JSON.stringify(this.#name)}: the lease was released by its owner`);
      return { lost: this.#releasing.then(() => released), close: async () => undefined };
    }
    let fail!: (loss: LeaseLostError) => void;
    const lost = new Promise<LeaseLostError>((resolve) => (fail = resolve));
    const state: KeeperState = { ttlMs, onRenewed, fail };
    this.#keepers.add(state);
    this.#dueMs = Number.NEGATIVE_INFINITY;
    this.#wake?.();
    if (!this.#running) void this.#run();
    return { lost, close: (policy) => this.#leave(state, policy) };
  }

  get keepers(): number {
    return this.#keepers.size;
  }

  async #leave(state: KeeperState, policy: ClosePolicy): Promise<void> {
    if (!this.#keepers.delete(state)) return;
    this.#wake?.();
    if (this.#keepers.size > 0 || this.#lost) return;
    if (policy === "run-out") {
      this.#onEnded();
      return;
    }
    // Released after the renewal in flight, so the two cannot land the wrong
    // way round; the session stays known meanwhile, so a stream that opens
    // now learns of the release instead of being told a new end.
    this.#releasing = this.#renewing.then(() => this.#engine.release(this.#name, this.#lease)).then(
      () => undefined,
      () => undefined,
    );
    await this.#releasing;
    this.#onEnded();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#keepers.size > 0 && !this.#lost) {
        const waitMs = this.#dueMs - this.#engine.clock.monotonicMs();
        if (waitMs > 0) await this.#sleep(waitMs);
        else await this.#renew();
      }
    } catch (error) {
      this.#lose(new LeaseLostError("error", `lock ${JSON.stringify(this.#name)}: keeping the lease alive failed`, error));
    } finally {
      this.#running = false;
    }
  }

  /** Sleeps until `ms` pass or a keeper joins or leaves. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.#wake = undefined;
        resolve();
      }
      this.#wake = done;
    });
  }

  /** The end the loss must be reported by: the last one told, by a message here or by Acquire/Extend. */
  #deadlineMs(): number | undefined {
    if (this.#toldEndMs !== undefined) return this.#toldEndMs;
    const known = this.#engine.leases.get(this.#lease.text);
    return known?.name === this.#name ? known.endMs : undefined;
  }

  async #renew(): Promise<void> {
    const clock = this.#engine.clock;
    const ttlMs = Math.max(...[...this.#keepers].map((k) => k.ttlMs));
    const untilMs = this.#deadlineMs();
    if (untilMs !== undefined && clock.monotonicMs() >= untilMs) {
      // Retries ran out at the end told: no renewal was confirmed in time.
      this.#loseUnconfirmed(undefined);
      return;
    }
    const renewal = this.#engine.extend(this.#name, this.#lease, ttlMs);
    this.#renewing = renewal.catch(() => undefined);
    let outcome: Lease | "expired";
    try {
      outcome = untilMs === undefined ? await renewal : await beforeEnd(renewal, untilMs, clock.monotonicMs());
    } catch (error) {
      if (error instanceof LockError && error.code === "not-held") {
        this.#lose(new LeaseLostError("not_held", error.message, error));
        return;
      }
      if (!(error instanceof LockError) || error.code !== "unavailable") throw error;
      if (untilMs === undefined) {
        this.#lose(new LeaseLostError("unavailable", error.message, error));
        return;
      }
      const nowMs = clock.monotonicMs();
      if (nowMs >= untilMs) {
        this.#loseUnconfirmed(error);
        return;
      }
      this.#dueMs = Math.min(nowMs + this.#retryDelayMs, untilMs);
      return;
    }
    if (outcome === "expired") {
      this.#loseUnconfirmed(undefined);
      return;
    }
    if (this.#keepers.size === 0 || this.#lost) return;
    this.#toldEndMs = outcome.endMs;
    for (const keeper of this.#keepers) keeper.onRenewed(outcome);
    const shortestMs = Math.min(...[...this.#keepers].map((k) => k.ttlMs));
    this.#dueMs = renewalDueMs(clock.monotonicMs(), shortestMs);
  }

  /**
   * No majority confirmed a renewal by the end last told: lost now, and
   * refused here from now on. A renewal still out may land later and hold
   * the keys for another TTL; its owner was told the lease is lost, so it
   * is released once it lands.
   */
  #loseUnconfirmed(cause: unknown): void {
    const nowMs = this.#engine.clock.monotonicMs();
    this.#lose(new LeaseLostError("unconfirmed", `lock ${JSON.stringify(this.#name)}: no majority confirmed a renewal before the lease expired`, cause));
    // An Extend may have told the owner a later end than this stream did:
    // then the lease is left alone, to run out at that end.
    const known = this.#engine.leases.get(this.#lease.text);
    if (known?.name === this.#name && known.endMs > nowMs) return;
    this.#engine.leases.expire(this.#name, this.#lease.text, nowMs);
    void this.#renewing.then(() => this.#engine.release(this.#name, this.#lease).catch(() => undefined));
  }

  #lose(loss: LeaseLostError): void {
    if (this.#lost) return;
    this.#lost = loss;
    for (const keeper of this.#keepers) keeper.fail(loss);
    this.#keepers.clear();
    this.#wake?.();
    this.#onEnded();
  }
}

/** The renewal's outcome, or "expired" once the monotonic clock reaches `endMs` first. */
async function beforeEnd(renewal: Promise<Lease>, endMs: number, nowMs: number): Promise<Lease | "expired"> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), Math.max(0, endMs - nowMs));
  });
  try {
    return await Promise.race([renewal, expired]);
  } finally {
    clearTimeout(timer);
  }
}
