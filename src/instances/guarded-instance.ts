import type { Logger } from "../log/logger.ts";
import type { Clock } from "../util/clock.ts";
import type { InstanceAges } from "./instance-ages.ts";
import { InstanceDecorator } from "./instance-decorator.ts";
import type { Announcement, ExtendItem, LockInstance } from "./lock-instance.ts";
import { PendingReleases } from "./pending-releases.ts";
import { Quarantine, type QuarantineBasis } from "./quarantine.ts";
import type { RestartWitnesses } from "./restart-witnesses.ts";

export interface GuardOptions {
  /**
   * How long an instance that came back with a new identity (it restarted
   * and forgot its keys) is kept out of every quorum; 0 turns quarantine
   * off. It must be at least the longest TTL a lease can be granted for.
   */
  quarantineMs: number;
  /**
   * Instances whose starts lie within this of the earliest one's were
   * deployed together; one that started later, less than `quarantineMs`
   * ago, is quarantined until `quarantineMs` after its start, even on first
   * contact: it may have restarted and forgotten leases.
   */
  freshStartWindowMs: number;
  /** Shared by the instances of one engine: when each started. */
  ages: InstanceAges;
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
  /**
   * Shared by the instances of one engine: asked, when this one restarted,
   * how long the leases it may have forgotten can still live, so that its
   * quarantine ends then instead of after `quarantineMs`. Without it, the
   * quarantine always lasts `quarantineMs`.
   */
  witnesses?: RestartWitnesses | undefined;
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

/**
 * How far apart two readings of one run's start may lie: uptime is reported
 * in whole seconds and read after a round trip.
 */
const UPTIME_SLACK_MS = 2000;

/**
 * Where restarts are told by uptime alone (no run_id, as on Dragonfly), a
 * second restart within UPTIME_SLACK_MS of a start goes unnoticed. A
 * quarantine then lasts until the start plus the slack and this margin (for
 * clock drift until the next reading), so by the time the instance counts
 * again any further restart moves its start far enough to be noticed.
 */
const UPTIME_BLIND_MARGIN_MS = 1000;

/**
 * How long a release that could not be sent is kept for a retry when quarantine is
 * off (so LOCK_MAX_TTL is not known here).
 */
const RELEASE_RETRY_WITHOUT_QUARANTINE_MS = 10 * 60_000;

/** Clock rate difference allowed between a server and this sidecar (the Redlock drift allowance). */
const DRIFT_RATE = 0.01;

/** Why an instance's answer does not count: the engine sees a failed vote. */
export class VoteWithheldError extends Error {
  override readonly name = "VoteWithheldError";
}

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
 *   `quarantineMs` after its start, for the same reason;
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
  /** This run's start on our monotonic clock, from its uptime, and when that was read. */
  #startMs: number | undefined;
  #startReadAtMs = 0;
  /** The start read on first contact: what the late-starter rule judges. */
  #firstStartMs: number | undefined;
  /** The late-starter rule quarantined this instance once already. */
  #lateStarterJudged = false;
  readonly #stopWatchingAges: () => void;
  #verifiedEpoch = -1;
  #verifying: Promise<void> | undefined;
  readonly #quarantine: Quarantine;
  #failures = 0;
  #firstFailureMs = 0;
  #probe: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #unsent: PendingReleases;

  constructor(inner: LockInstance, options: GuardOptions, clock: Clock, logger: Logger) {
    super(inner);
    this.#options = options;
    this.#clock = clock;
    this.#logger = logger;
    this.#unsent = new PendingReleases(
      clock,
      options.quarantineMs > 0 ? options.quarantineMs : RELEASE_RETRY_WITHOUT_QUARANTINE_MS,
    );
    this.#quarantine = new Quarantine(this.name, clock, logger, options.witnesses);
    // Another instance's start may show this one to be a late starter.
    this.#stopWatchingAges = options.ages.onChange(() => this.#quarantineIfLateStarter());
  }

  /** What the guard does with this instance's answers now (health, metrics). */
  state(): GuardState {
    if (this.#probe) return "circuit-open";
    if (this.#quarantine.active()) return "quarantined";
    if (this.#verifiedEpoch !== this.inner.connectionEpoch() || !this.#options.ages.quorumIdentified())
      return "unverified";
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
    if (this.#probe) {
      this.inner.release(lockKey, secret, announce).catch(() => this.#unsent.add(lockKey, secret));
      throw new VoteWithheldError(
        `${this.name}: circuit open after ${this.#options.circuitFailures} consecutive failures`,
      );
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
    await this.#verify().catch(() => undefined);
  }

  override async close(): Promise<void> {
    this.#closed = true;
    this.#stopWatchingAges();
    if (this.#probe) this.#options.circuitBudget.close();
    clearInterval(this.#probe);
    this.#quarantine.close();
    await this.inner.close();
  }

  /** Withholds answers that must not count (ping included: reachable only when its votes count). */
  protected override async around<T>(call: () => Promise<T>): Promise<T> {
    if (this.#probe)
      throw new VoteWithheldError(
        `${this.name}: circuit open after ${this.#options.circuitFailures} consecutive failures`,
      );
    let result: T;
    try {
      result = await call();
    } catch (error) {
      this.#failed();
      throw error;
    }
    this.#failures = 0;
    this.#unsent.flush(this.inner);
    if (this.#verifiedEpoch !== this.inner.connectionEpoch()) {
      // A reply through a connection whose server we have not identified:
      // it may have restarted empty. Check, and withhold this answer.
      void this.#verify().catch(() => undefined);
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

  #verify(): Promise<void> {
    this.#verifying ??= (async () => {
      try {
        const epoch = this.inner.connectionEpoch();
        const { runId, uptimeMs } = await this.inner.identify();
        const nowMs = this.#clock.monotonicMs();
        const startMs = uptimeMs === undefined ? undefined : nowMs - uptimeMs;
        const newRunId = runId !== undefined && this.#runId !== undefined && runId !== this.#runId;
        // Unless both readings carry a run_id, a start clearly later than the
        // last reading's is a new run. Uptime is whole seconds of the server's
        // wall clock, read after a round trip: allow for that, and for clock
        // drift since then.
        const slackMs = UPTIME_SLACK_MS + DRIFT_RATE * (nowMs - this.#startReadAtMs);
        const byUptime = runId === undefined || this.#runId === undefined;
        const startedAgain =
          byUptime && startMs !== undefined && this.#startMs !== undefined && startMs > this.#startMs + slackMs;
        if ((newRunId || startedAgain) && this.#options.quarantineMs > 0) {
          this.#quarantine.start(
            this.#clock.monotonicMs() + this.#options.quarantineMs,
            "instance restarted: its votes do not count until every lease it may have forgotten has expired",
            blindUntilMs(byUptime, startMs),
          );
        } else if (newRunId || startedAgain) {
          this.#logger.warn({ instance: this.name }, "instance restarted; quarantine is off, its votes count at once");
        }
        this.#runId = runId;
        if (startMs !== undefined) {
          this.#startMs = startMs;
          this.#startReadAtMs = nowMs;
          this.#firstStartMs ??= startMs;
        }
        this.#verifiedEpoch = epoch;
        this.#options.ages.report(this.name, startMs);
        this.#quarantineIfLateStarter();
      } finally {
        this.#verifying = undefined;
      }
    })();
    return this.#verifying;
  }

  /**
   * An instance that started well after the earliest of the others, less
   * than `quarantineMs` ago, may have restarted before this sidecar first
   * saw it: its votes wait until `quarantineMs` after its start. Judged on
   * the start read on first contact (later restarts are told apart above),
   * so a wall-clock step on a server seen for long does not count as one.
   */
  #quarantineIfLateStarter(): void {
    const { quarantineMs, freshStartWindowMs, ages } = this.#options;
    const earliest = ages.earliestExcept(this.name);
    if (quarantineMs <= 0 || this.#firstStartMs === undefined || earliest === undefined) return;
    if (this.#firstStartMs <= earliest + freshStartWindowMs + UPTIME_SLACK_MS) return;
    const untilMs = this.#firstStartMs + quarantineMs;
    // Judged once per first start: a quarantine the witnesses shortened is not started again.
    if (this.#lateStarterJudged || untilMs <= this.#quarantine.untilMs || untilMs <= this.#clock.monotonicMs()) return;
    this.#lateStarterJudged = true;
    this.#quarantine.start(
      untilMs,
      "instance started well after the others: its votes do not count until LOCK_MAX_TTL after its start, as it may have restarted and forgotten leases",
      blindUntilMs(this.#runId === undefined, this.#firstStartMs),
    );
  }

  #failed(): void {
    const nowMs = this.#clock.monotonicMs();
    if (this.#failures++ === 0) this.#firstFailureMs = nowMs;
    if (this.#failures < this.#options.circuitFailures || this.#probe || this.#closed) return;
    if (nowMs - this.#firstFailureMs < this.#options.circuitProbeIntervalMs) return;
    if (!this.#options.circuitBudget.tryOpen()) return;
    this.#logger.warn(
      { instance: this.name, failures: this.#failures },
      "instance circuit open: calls fail fast while it is probed",
    );
    this.#probe = setInterval(() => {
      this.inner.ping().then(
        () => {
          if (!this.#probe) return;
          clearInterval(this.#probe);
          this.#probe = undefined;
          this.#failures = 0;
          this.#options.circuitBudget.close();
          this.#unsent.flush(this.inner);
          this.#logger.info({ instance: this.name }, "instance circuit closed: it answers again");
        },
        () => undefined,
      );
    }, this.#options.circuitProbeIntervalMs);
    this.#probe.unref();
  }
}

/** The earliest a quarantine may end when restarts are told by uptime alone (see UPTIME_BLIND_MARGIN_MS). */
function blindUntilMs(byUptime: boolean, startMs: number | undefined): number {
  return byUptime && startMs !== undefined
    ? startMs + UPTIME_SLACK_MS + UPTIME_BLIND_MARGIN_MS
    : Number.NEGATIVE_INFINITY;
}
