import type { Logger } from "../log/logger.ts";
import type { Clock } from "../redlock/clock.ts";
import { InstanceDecorator } from "./instance-decorator.ts";
import type { ExtendItem, LockInstance } from "./lock-instance.ts";

export interface GuardOptions {
  /**
   * How long an instance that came back with a new identity (it restarted
   * and forgot its keys) is kept out of every quorum; 0 turns quarantine
   * off. It must be at least the longest TTL a lease can be granted for.
   */
  quarantineMs: number;
  /**
   * Consecutive failures that open the circuit, when they also span at
   * least one probe interval: a burst of timeouts under load is not an
   * instance that is gone.
   */
  circuitFailures: number;
  /** While the circuit is open: how often the instance is probed. */
  circuitProbeIntervalMs: number;
  /** Shared by the instances of one engine: how many circuits may be open at once. */
  circuitBudget: CircuitBudget;
}

/**
 * At most N - quorum circuits open at once: skipping an instance is only
 * worth it while the others still make a quorum. When every instance is
 * slow (the sidecar itself is overloaded), calls keep trying them all
 * rather than failing fast everywhere.
 */
export class CircuitBudget {
  readonly #maxOpen: number;
  #open = 0;

  constructor(maxOpen: number) {
    this.#maxOpen = maxOpen;
  }

  tryOpen(): boolean {
    if (this.#open >= this.#maxOpen) return false;
    this.#open++;
    return true;
  }

  close(): void {
    this.#open = Math.max(0, this.#open - 1);
  }
}

/** Why an instance's answer does not count: the engine sees a failed vote. */
export class VoteWithheldError extends Error {
  override readonly name = "VoteWithheldError";
}

export type GuardState = "ok" | "quarantined" | "circuit-open" | "unverified";

/**
 * Guards one instance's votes:
 * - restart quarantine ("delayed restarts", done by the client): the
 *   server's run_id is checked on every new connection; when it changed,
 *   the instance is still written to (so it catches up, and extends adopt
 *   leases it forgot) but its answers are withheld from every quorum until
 *   `quarantineMs` has passed, by when every lease it forgot has expired;
 * - circuit breaker: after `circuitFailures` consecutive failures calls
 *   fail at once instead of waiting for their timeout, and the instance is
 *   probed in the background until it answers again.
 * Withheld answers reach the engine as failed votes, which it also rolls
 * back, so a write to a quarantined instance never lingers.
 */
export class GuardedInstance extends InstanceDecorator {
  readonly #options: GuardOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #runId: string | undefined;
  #verifiedEpoch = -1;
  #verifying: Promise<void> | undefined;
  #quarantinedUntilMs = Number.NEGATIVE_INFINITY;
  #quarantineTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #firstFailureMs = 0;
  #probe: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(inner: LockInstance, options: GuardOptions, clock: Clock, logger: Logger) {
    super(inner);
    this.#options = options;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** What the guard does with this instance's answers now (health, metrics). */
  state(): GuardState {
    if (this.#probe) return "circuit-open";
    if (this.#clock.monotonicMs() < this.#quarantinedUntilMs) return "quarantined";
    if (this.#verifiedEpoch !== this.inner.connectionEpoch()) return "unverified";
    return "ok";
  }

  /** Milliseconds of quarantine left (0 when none). */
  quarantineRemainingMs(): number {
    return Math.max(0, this.#quarantinedUntilMs - this.#clock.monotonicMs());
  }

  override extend(items: readonly ExtendItem[]): Promise<boolean[]> {
    // In quarantine, extends re-create leases the restart lost, so the
    // instance holds every live lease by the time its votes count again.
    return this.around(() => this.inner.extend(items, this.state() === "quarantined"));
  }

  override async waitUntilConnected(timeoutMs: number): Promise<void> {
    await this.inner.waitUntilConnected(timeoutMs);
    await this.#verify().catch(() => undefined);
  }

  override async close(): Promise<void> {
    this.#closed = true;
    if (this.#probe) this.#options.circuitBudget.close();
    clearInterval(this.#probe);
    clearTimeout(this.#quarantineTimer);
    await this.inner.close();
  }

  /** Withholds answers that must not count (ping included: reachable only when its votes count). */
  protected override async around<T>(call: () => Promise<T>): Promise<T> {
    if (this.#probe) throw new VoteWithheldError(`${this.name}: circuit open after ${this.#options.circuitFailures} consecutive failures`);
    let result: T;
    try {
      result = await call();
    } catch (error) {
      this.#failed();
      throw error;
    }
    this.#failures = 0;
    if (this.#verifiedEpoch !== this.inner.connectionEpoch()) {
      // A reply through a connection whose server we have not identified:
      // it may have restarted empty. Check, and withhold this answer.
      void this.#verify().catch(() => undefined);
      throw new VoteWithheldError(`${this.name}: new connection, identity not yet checked`);
    }
    if (this.#clock.monotonicMs() < this.#quarantinedUntilMs) {
      throw new VoteWithheldError(`${this.name}: restarted, in quarantine for ${Math.ceil(this.quarantineRemainingMs())} ms more`);
    }
    return result;
  }

  #verify(): Promise<void> {
    this.#verifying ??= (async () => {
      try {
        const epoch = this.inner.connectionEpoch();
        const runId = await this.inner.identify();
        if (this.#runId !== undefined && runId !== this.#runId && this.#options.quarantineMs > 0) this.#quarantine();
        else if (this.#runId !== undefined && runId !== this.#runId) {
          this.#logger.warn({ instance: this.name }, "instance restarted (new run_id); quarantine is off, its votes count at once");
        }
        this.#runId = runId;
        this.#verifiedEpoch = epoch;
      } finally {
        this.#verifying = undefined;
      }
    })();
    return this.#verifying;
  }

  #quarantine(): void {
    this.#quarantinedUntilMs = this.#clock.monotonicMs() + this.#options.quarantineMs;
    this.#logger.warn(
      { instance: this.name, quarantineMs: this.#options.quarantineMs },
      "instance restarted (new run_id): its votes do not count until every lease it may have forgotten has expired",
    );
    clearTimeout(this.#quarantineTimer);
    this.#quarantineTimer = setTimeout(() => this.#logger.info({ instance: this.name }, "instance quarantine over: its votes count again"), this.#options.quarantineMs);
    this.#quarantineTimer.unref();
  }

  #failed(): void {
    const nowMs = this.#clock.monotonicMs();
    if (this.#failures++ === 0) this.#firstFailureMs = nowMs;
    if (this.#failures < this.#options.circuitFailures || this.#probe || this.#closed) return;
    if (nowMs - this.#firstFailureMs < this.#options.circuitProbeIntervalMs) return;
    if (!this.#options.circuitBudget.tryOpen()) return;
    this.#logger.warn({ instance: this.name, failures: this.#failures }, "instance circuit open: calls fail fast while it is probed");
    this.#probe = setInterval(() => {
      this.inner.ping().then(
        () => {
          if (!this.#probe) return;
          clearInterval(this.#probe);
          this.#probe = undefined;
          this.#failures = 0;
          this.#options.circuitBudget.close();
          this.#logger.info({ instance: this.name }, "instance circuit closed: it answers again");
        },
        () => undefined,
      );
    }, this.#options.circuitProbeIntervalMs);
    this.#probe.unref();
  }
}
