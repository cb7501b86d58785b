import { LockError } from "../errors/lock-error.ts";
import { LeaseLostError } from "./lease-loss.ts";
import type { Lease } from "./lease.ts";
import type { LeaseId } from "./lease-id.ts";
import type { LockEngine } from "./lock-engine.ts";
import type { RenewalScheduler, ScheduledTask } from "./renewal-scheduler.ts";
import { SessionKeeper, type Keeper, type KeeperEvents } from "./session-keeper.ts";

export type { ClosePolicy, Keeper, KeeperEvents } from "./session-keeper.ts";
export { LEASE_LOSS_REASONS, LeaseLostError, type LeaseLossReason } from "./lease-loss.ts";

/** What a lease session needs of the engine (an interface, so tests can drive it). */
export type SessionEngine = Pick<LockEngine, "extend" | "release" | "leases" | "clock">;

/** What the sessions of one engine share: one object, not a copy in each session. */
export interface SessionContext {
  readonly engine: SessionEngine;
  /** Pause before retrying a renewal that a majority did not answer. */
  readonly retryDelayMs: number;
  readonly scheduler: RenewalScheduler;
  /** A renewal was answered `latenessMs` after it fell due. */
  answered(latenessMs: number, nowMs: number): void;
  /** The session keeps nothing any more. */
  ended(session: LeaseSession): void;
}

/**
 * When to renew next: about a third of the TTL from now, rounded up to a
 * tick (at most 100 ms, a thirtieth of the TTL for short ones) shared by
 * every lease, so renewals due together go to the instances as one batch.
 */
export function renewalDueMs(nowMs: number, ttlMs: number): number {
  const tickMs = renewalTickMs(ttlMs);
  return Math.ceil((nowMs + ttlMs / 3) / tickMs) * tickMs;
}

/** The renewal tick for a TTL: renewals due within one tick go out together. */
export function renewalTickMs(ttlMs: number): number {
  return Math.min(100, Math.max(1, Math.floor(ttlMs / 30)));
}

const noop = (): void => undefined;

/**
 * The life of one kept-alive lease on this sidecar, however many streams
 * keep it: one renewal schedule, loss detection, late renewals and what
 * happens when the last keeper stops. Rule it keeps (docs/design.md): once
 * an owner was told "held until E", the lease is not released before E
 * unless the owner asked, and a loss is reported no later than E.
 * It holds no timer of its own: the shared scheduler runs it when its next
 * renewal is due, and at the deadline of a renewal still out.
 * Longer than most files on purpose: it is one state machine (renewing,
 * retrying, released, lost), and its transitions read best side by side.
 */
export class LeaseSession implements ScheduledTask {
  /** Its key among the engine's sessions. */
  readonly key: string;
  scheduledAtMs: number | undefined;
  readonly #ctx: SessionContext;
  readonly #lease: LeaseId;
  readonly #name: string;
  #keepers: SessionKeeper[] = [];
  /** The end last reported to keepers, on the monotonic clock. */
  #toldEndMs: number | undefined;
  #lost: LeaseLostError | undefined;
  /** The renewal out now: a release waits for it. */
  #renewing: Promise<Lease> | undefined;
  /** The end the renewal out must be answered by, if one is known. */
  #untilMs: number | undefined;
  /** When the renewal out now fell due. */
  #dueMs = 0;
  /** Set once the last keeper left asking for a release; settles when it is done. */
  #releasing: Promise<void> | undefined;
  /** Its owner released the lease through Release: no more renewals, and no second release. */
  #releasedByOwner = false;

  constructor(ctx: SessionContext, key: string, name: string, lease: LeaseId) {
    this.#ctx = ctx;
    this.key = key;
    this.#name = name;
    this.#lease = lease;
  }

  /**
   * A new keeper: the lease is renewed at once, and its keepers told after
   * each renewal. With `busy` (renewals are running late), a keeper that can
   * take the lease as known (`events.known`) is told it at once instead, if
   * this sidecar knows it valid, and the first renewal waits for its due
   * time: a burst of new streams then adds no burst of renewals.
   */
  join(ttlMs: number, events: KeeperEvents, busy = false): Keeper {
    const keeper = new SessionKeeper(this, ttlMs, events);
    if (this.#releasedByOwner) {
      keeper.fail(this.#releasedError());
      return keeper;
    }
    if (this.#releasing) {
      // Its owner just asked for it to go: a stream that joins now finds it released.
      const released = this.#releasedError();
      void this.#releasing.then(() => keeper.fail(released));
      return keeper;
    }
    this.#keepers.push(keeper);
    // A renewal already out answers this keeper too.
    if (this.#renewing) return keeper;
    const nowMs = this.#ctx.engine.clock.monotonicMs();
    const known = busy && events.known ? this.#knownValid(nowMs) : undefined;
    if (known && events.known) {
      events.known(known);
      // Told now (by the message `known` writes, or by the grant itself): the end a loss is reported by.
      this.#toldEndMs = Math.max(this.#toldEndMs ?? known.endMs, known.endMs);
      // When it would have been due had it been renewed a third of the TTL after its last renewal;
      // never later than a renewal or retry the session has already scheduled for its other keepers.
      const dueMs = Math.max(nowMs, renewalDueMs(known.endMs - ttlMs, ttlMs));
      if (this.scheduledAtMs === undefined || dueMs < this.scheduledAtMs) this.#ctx.scheduler.schedule(this, dueMs);
    } else {
      this.#ctx.scheduler.schedule(this, nowMs);
    }
    return keeper;
  }

  /** The lease as this sidecar granted or renewed it, if still valid and not found lost. */
  #knownValid(nowMs: number): Lease | undefined {
    const known = this.#ctx.engine.leases.get(this.#lease.text);
    if (known?.name !== this.#name || known.endMs <= nowMs || this.#ctx.engine.leases.isLost(this.#lease.text))
      return undefined;
    return known;
  }

  get keepers(): number {
    return this.#keepers.length;
  }

  /** Renewals run earliest end first. */
  get urgencyMs(): number {
    return this.#deadlineMs() ?? 0;
  }

  /** Called by its keepers: the last to leave decides what happens to the lease. */
  async leave(keeper: SessionKeeper, policy: "release" | "run-out"): Promise<void> {
    const at = this.#keepers.indexOf(keeper);
    if (at < 0) return;
    this.#keepers.splice(at, 1);
    if (this.#keepers.length > 0 || this.#lost) return;
    this.#ctx.scheduler.cancel(this);
    if (policy === "run-out" || this.#releasedByOwner) {
      this.#ctx.ended(this);
      return;
    }
    // Released after the renewal in flight, so the two cannot land the wrong
    // way round; the session stays known meanwhile, so a stream that opens
    // now learns of the release instead of being told a new end.
    this.#releasing = settled(this.#renewing)
      .then(() => this.#ctx.engine.release(this.#name, this.#lease))
      .then(noop, noop);
    await this.#releasing;
    this.#ctx.ended(this);
  }

  /**
   * Its owner released the lease through Release: it is renewed no more,
   * and no keeper that leaves releases it again. Keepers that take it as
   * their end (KeepAlive, Hold) hear it now; one still open at the end last
   * told (a KeepAliveMany item) learns then that its owner released it.
   */
  releasedByOwner(released: boolean): void {
    if (this.#releasedByOwner || this.#lost) return;
    this.#releasedByOwner = true;
    // Keepers that end on it end now (they leave the session as they go); the others at the end told.
    if (released) for (const keeper of [...this.#keepers]) keeper.ownerReleased();
    if (this.#keepers.length === 0) {
      this.#ctx.scheduler.cancel(this);
      return;
    }
    // The keepers left learn it at the end they were told, or now if no end is known any more
    // (the release took the lease out of the registry): never left open unrenewed and untold.
    const nowMs = this.#ctx.engine.clock.monotonicMs();
    this.#ctx.scheduler.schedule(this, this.#deadlineMs() ?? nowMs);
  }

  #releasedError(): LeaseLostError {
    return new LeaseLostError("not_held", `lock ${JSON.stringify(this.#name)}: the lease was released by its owner`);
  }

  /** The scheduler's call: the next renewal is due, or the renewal out reached its deadline. */
  run(nowMs: number, dueMs: number): void {
    if (this.#lost || this.#keepers.length === 0) return;
    if (this.#releasedByOwner) {
      this.#lose(this.#releasedError());
      return;
    }
    if (this.#renewing) {
      // Unanswered by the end last told: lost now, whatever the answer says later.
      if (this.#untilMs === undefined) return;
      if (nowMs >= this.#untilMs) this.#loseUnconfirmed(undefined);
      else this.#ctx.scheduler.schedule(this, this.#untilMs);
      return;
    }
    this.#dueMs = dueMs;
    const untilMs = this.#deadlineMs();
    if (untilMs !== undefined && nowMs >= untilMs) {
      // Retries ran out at the end told: no renewal was confirmed in time.
      this.#loseUnconfirmed(undefined);
      return;
    }
    const renewal = this.#ctx.engine.extend(this.#name, this.#lease, this.#ttlMs(Math.max));
    this.#renewing = renewal;
    this.#untilMs = untilMs;
    // Watched from the last renewal tick before the deadline, a time many
    // leases share: an answer almost always comes first, and the check is
    // then a stale entry skipped for free.
    if (untilMs !== undefined) {
      const tickMs = renewalTickMs(this.#ttlMs(Math.min));
      this.#ctx.scheduler.schedule(this, Math.max(nowMs, Math.floor(untilMs / tickMs) * tickMs));
    }
    renewal.then(
      (lease) => this.#renewed(renewal, lease),
      (error: unknown) => this.#failed(renewal, error),
    );
  }

  /** The end the loss must be reported by: the last one told, by a message here or by Acquire/Extend. */
  #deadlineMs(): number | undefined {
    if (this.#toldEndMs !== undefined) return this.#toldEndMs;
    const known = this.#ctx.engine.leases.get(this.#lease.text);
    return known?.name === this.#name ? known.endMs : undefined;
  }

  #ttlMs(pick: (a: number, b: number) => number): number {
    let ttlMs = this.#keepers[0]!.ttlMs;
    for (const keeper of this.#keepers) ttlMs = pick(ttlMs, keeper.ttlMs);
    return ttlMs;
  }

  #answered(renewal: Promise<Lease>): number | undefined {
    if (renewal !== this.#renewing) return undefined;
    this.#renewing = undefined;
    if (this.#lost || this.#keepers.length === 0) return undefined;
    const nowMs = this.#ctx.engine.clock.monotonicMs();
    this.#ctx.answered(nowMs - this.#dueMs, nowMs);
    return nowMs;
  }

  #renewed(renewal: Promise<Lease>, lease: Lease): void {
    const nowMs = this.#answered(renewal);
    // A renewal that lands after its owner released the lease is not news to tell.
    if (nowMs === undefined || this.#releasedByOwner) return;
    this.#toldEndMs = lease.endMs;
    try {
      const keepers = this.#keepers.length === 1 ? this.#keepers : [...this.#keepers];
      for (const keeper of keepers) keeper.renewed(lease);
    } catch (error) {
      this.#lose(
        new LeaseLostError("error", `lock ${JSON.stringify(this.#name)}: keeping the lease alive failed`, error),
      );
      return;
    }
    if (this.#lost || this.#keepers.length === 0) return;
    this.#ctx.scheduler.schedule(this, renewalDueMs(nowMs, this.#ttlMs(Math.min)));
  }

  #failed(renewal: Promise<Lease>, error: unknown): void {
    const nowMs = this.#answered(renewal);
    if (nowMs === undefined || this.#releasedByOwner) return;
    const untilMs = this.#untilMs;
    if (error instanceof LockError && error.code === "not-held") {
      this.#lose(new LeaseLostError("not_held", error.message, error));
    } else if (!(error instanceof LockError) || error.code !== "unavailable") {
      this.#lose(
        new LeaseLostError("error", `lock ${JSON.stringify(this.#name)}: keeping the lease alive failed`, error),
      );
    } else if (untilMs === undefined) {
      this.#lose(new LeaseLostError("unavailable", error.message, error));
    } else if (nowMs >= untilMs) {
      this.#loseUnconfirmed(error);
    } else {
      // On the shared ticks, as renewals are: the retries of one failed batch
      // go out together again, rather than one small batch per millisecond
      // (which multiplied the calls to the instances just when they lagged).
      const tickMs = renewalTickMs(this.#ttlMs(Math.min));
      const retryMs = Math.ceil((nowMs + this.#ctx.retryDelayMs) / tickMs) * tickMs;
      // Past the end told, the deadline comes first: run() reports the loss then.
      this.#ctx.scheduler.schedule(this, Math.min(retryMs, untilMs));
    }
  }

  /**
   * No majority confirmed a renewal by the end last told: lost now, and
   * refused here from now on. A renewal still out may land later and hold
   * the keys for another TTL; its owner was told the lease is lost, so it
   * is released once it lands.
   */
  #loseUnconfirmed(cause: unknown): void {
    const { engine } = this.#ctx;
    const nowMs = engine.clock.monotonicMs();
    this.#lose(
      new LeaseLostError(
        "unconfirmed",
        `lock ${JSON.stringify(this.#name)}: no majority confirmed a renewal before the lease expired`,
        cause,
      ),
    );
    // An Extend may have told the owner a later end than this stream did:
    // then the lease is left alone, to run out at that end.
    const known = engine.leases.get(this.#lease.text);
    if (known?.name === this.#name && known.endMs > nowMs) return;
    engine.leases.expire(this.#name, this.#lease.text, nowMs);
    void settled(this.#renewing).then(() => engine.release(this.#name, this.#lease).catch(noop));
  }

  #lose(loss: LeaseLostError): void {
    if (this.#lost) return;
    this.#lost = loss;
    const keepers = this.#keepers;
    this.#keepers = [];
    this.#ctx.scheduler.cancel(this);
    for (const keeper of keepers) keeper.fail(loss);
    this.#ctx.ended(this);
  }
}

/** Settles with the promise, never rejects; at once without one. */
function settled(promise: Promise<unknown> | undefined): Promise<void> {
  return promise ? promise.then(noop, noop) : Promise.resolve();
}
