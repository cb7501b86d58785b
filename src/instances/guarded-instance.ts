import type { Logger } from "../log/logger.ts";
import type { Clock } from "../util/clock.ts";
import { CircuitBreaker } from "./circuit-breaker.ts";
import type { GuardOptions } from "./guard-options.ts";
import { InstanceDecorator } from "./instance-decorator.ts";
import type { Announcement, ExtendItem, LockInstance } from "./lock-instance.ts";
import { PendingReleases } from "./pending-releases.ts";
import { Quarantine, type QuarantineBasis } from "./quarantine.ts";
import { RestartDetector } from "./restart-detector.ts";
import { VoteWithheldError } from "./vote-withheld-error.ts";

// Re-exported: the sidecar wiring, the eviction guard, tracing and tests import them from here.
export { CircuitBudget } from "./circuit-budget.ts";
export type { GuardOptions } from "./guard-options.ts";
export { VoteWithheldError } from "./vote-withheld-error.ts";

/**
 * How long a release that could not be sent is kept for a retry when quarantine is
 * off (so LOCK_MAX_TTL is not known here).
 */
const RELEASE_RETRY_WITHOUT_QUARANTINE_MS = 10 * 60_000;

export type GuardState = "ok" | "quarantined" | "circuit-open" | "unverified";

/**
 * Guards one instance's votes:
 * - restart quarantine ("delayed restarts", done by the client): the
 *   server's run_id and uptime are checked on every new connection; when
 *   the run_id changed, or the uptime says it started again, the instance is
 *   still written to (so it catches up, and extends adopt leases it forgot)
 *   but its answers are withheld from every quorum until `quarantineMs` has
 *   passed, by when every lease it forgot has expired. An instance seen for
 *   the first time that started well after the others is held out until
 *   `quarantineMs` after its start, for the same reason (RestartDetector,
 *   Quarantine);
 * - circuit breaker: after `circuitFailures` consecutive failures calls
 *   fail at once instead of waiting for their timeout, and the instance is
 *   probed in the background until it answers again (CircuitBreaker).
 * Withheld answers reach the engine as failed votes, which it also rolls
 * back, so a write to a quarantined instance never lingers.
 */
export class GuardedInstance extends InstanceDecorator {
  readonly #options: GuardOptions;
  readonly #quarantine: Quarantine;
  readonly #restarts: RestartDetector;
  readonly #circuit: CircuitBreaker;
  readonly #unsent: PendingReleases;

  constructor(inner: LockInstance, options: GuardOptions, clock: Clock, logger: Logger) {
    super(inner);
    this.#options = options;
    this.#unsent = new PendingReleases(
      clock,
      options.quarantineMs > 0 ? options.quarantineMs : RELEASE_RETRY_WITHOUT_QUARANTINE_MS,
    );
    this.#quarantine = new Quarantine(this.name, clock, logger, options.witnesses);
    this.#restarts = new RestartDetector(inner, options, this.#quarantine, clock, logger);
    this.#circuit = new CircuitBreaker(
      this.name,
      options,
      () => this.inner.ping(),
      () => this.#unsent.flush(this.inner),
      clock,
      logger,
    );
  }

  /** What the guard does with this instance's answers now (health, metrics). */
  state(): GuardState {
    if (this.#circuit.open) return "circuit-open";
    if (this.#quarantine.active()) return "quarantined";
    if (!this.#restarts.identified() || !this.#options.ages.quorumIdentified()) return "unverified";
    return "ok";
  }

  /** Milliseconds of quarantine left (0 when none). */
  quarantineRemainingMs(): number {
    return this.#quarantine.remainingMs();
  }

  /** How the current (or last) quarantine's end was set (status, metrics). */
  quarantineBasis(): QuarantineBasis {
    return this.#quarantine.basis;
  }

  override extend(items: readonly ExtendItem[]): Promise<boolean[]> {
    // In quarantine, extends re-create leases the restart lost, so the
    // instance holds every live lease by the time its votes count again.
    return this.around(() => this.inner.extend(items, this.state() === "quarantined"));
  }

  /**
   * A release is sent even while the circuit is open (its answer never
   * counts then): commands on one connection run in order, so on an
   * instance that stalled after a grant's SET, the release runs after that
   * SET when it resumes. One that fails is sent again once the instance
   * answers (docs/design.md).
   */
  override async release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    if (this.#circuit.open) {
      this.inner.release(lockKey, secret, announce).catch(() => this.#unsent.add(lockKey, secret));
      throw this.#circuit.openError();
    }
    try {
      return await super.release(lockKey, secret, announce);
    } catch (error) {
      if (!(error instanceof VoteWithheldError)) this.#unsent.add(lockKey, secret);
      throw error;
    }
  }

  /** Releases kept for a retry (tests, status). */
  get unsentReleases(): number {
    return this.#unsent.size;
  }

  override async waitUntilConnected(timeoutMs: number): Promise<void> {
    await this.inner.waitUntilConnected(timeoutMs);
    await this.#restarts.verify().catch(() => undefined);
  }

  override async close(): Promise<void> {
    this.#circuit.stop();
    this.#restarts.stop();
    this.#quarantine.close();
    await this.inner.close();
  }

  /** Withholds answers that must not count (ping included: reachable only when its votes count). */
  protected override async around<T>(call: () => Promise<T>): Promise<T> {
    if (this.#circuit.open) throw this.#circuit.openError();
    let result: T;
    try {
      result = await call();
    } catch (error) {
      this.#circuit.failed();
      throw error;
    }
    this.#circuit.succeeded();
    this.#unsent.flush(this.inner);
    if (!this.#restarts.identified()) {
      // A reply through a connection whose server we have not identified:
      // it may have restarted empty. Check, and withhold this answer.
      void this.#restarts.verify().catch(() => undefined);
      throw new VoteWithheldError(`${this.name}: new connection, identity not yet checked`);
    }
    if (this.#quarantine.active()) {
      throw new VoteWithheldError(
        `${this.name}: restarted, in quarantine for ${Math.ceil(this.quarantineRemainingMs())} ms more`,
      );
    }
    if (!this.#options.ages.quorumIdentified()) {
      throw new VoteWithheldError(`${this.name}: waiting until a majority of instances is identified`);
    }
    return result;
  }
}
