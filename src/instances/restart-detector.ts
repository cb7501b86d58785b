import type { Logger } from "../log/logger.ts";
import type { Clock } from "../util/clock.ts";
import type { GuardOptions } from "./guard-options.ts";
import type { LockInstance } from "./lock-instance.ts";
import type { Quarantine } from "./quarantine.ts";

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

/** Clock rate difference allowed between a server and this sidecar (the Redlock drift allowance). */
const DRIFT_RATE = 0.01;

/**
 * Tells when one instance's server restarted ("delayed restarts", done by
 * the client): its run_id and uptime are read on every new connection; when
 * the run_id changed, or the uptime says it started again, its quarantine
 * starts. An instance seen for the first time that started well after the
 * others is quarantined until `quarantineMs` after its start.
 */
export class RestartDetector {
  readonly #inner: LockInstance;
  readonly #options: Pick<GuardOptions, "quarantineMs" | "freshStartWindowMs" | "ages">;
  readonly #quarantine: Quarantine;
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

  constructor(
    inner: LockInstance,
    options: Pick<GuardOptions, "quarantineMs" | "freshStartWindowMs" | "ages">,
    quarantine: Quarantine,
    clock: Clock,
    logger: Logger,
  ) {
    this.#inner = inner;
    this.#options = options;
    this.#quarantine = quarantine;
    this.#clock = clock;
    this.#logger = logger;
    // Another instance's start may show this one to be a late starter.
    this.#stopWatchingAges = options.ages.onChange(() => this.#quarantineIfLateStarter());
  }

  /** Whether the server behind the current connection has been identified. */
  identified(): boolean {
    return this.#verifiedEpoch === this.#inner.connectionEpoch();
  }

  stop(): void {
    this.#stopWatchingAges();
  }

  /** Identifies the server behind the current connection; one reading at a time. */
  verify(): Promise<void> {
    this.#verifying ??= (async () => {
      try {
        const epoch = this.#inner.connectionEpoch();
        const { runId, uptimeMs } = await this.#inner.identify();
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
          this.#logger.warn(
            { instance: this.#inner.name },
            "instance restarted; quarantine is off, its votes count at once",
          );
        }
        this.#runId = runId;
        if (startMs !== undefined) {
          this.#startMs = startMs;
          this.#startReadAtMs = nowMs;
          this.#firstStartMs ??= startMs;
        }
        this.#verifiedEpoch = epoch;
        this.#options.ages.report(this.#inner.name, startMs);
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
    const earliest = ages.earliestExcept(this.#inner.name);
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
}

/** The earliest a quarantine may end when restarts are told by uptime alone (see UPTIME_BLIND_MARGIN_MS). */
function blindUntilMs(byUptime: boolean, startMs: number | undefined): number {
  return byUptime && startMs !== undefined
    ? startMs + UPTIME_SLACK_MS + UPTIME_BLIND_MARGIN_MS
    : Number.NEGATIVE_INFINITY;
}
