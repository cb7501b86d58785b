import type { Logger } from "../log/logger.ts";
import type { Clock } from "../util/clock.ts";
import type { GuardOptions } from "./guard-options.ts";
import { VoteWithheldError } from "./vote-withheld-error.ts";

/**
 * The circuit breaker of one instance: after `circuitFailures` consecutive
 * failures that span at least one probe interval, calls fail at once
 * instead of waiting for their timeout, and the instance is probed in the
 * background until it answers again. Opens only while the shared budget
 * allows it.
 */
export class CircuitBreaker {
  readonly #name: string;
  readonly #options: Pick<GuardOptions, "circuitFailures" | "circuitProbeIntervalMs" | "circuitBudget">;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Asks the instance whether it answers again (a PING). */
  readonly #probe: () => Promise<void>;
  /** Runs when the circuit closes: the instance answers again. */
  readonly #onClosed: () => void;
  #failures = 0;
  #firstFailureMs = 0;
  #probing: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    name: string,
    options: Pick<GuardOptions, "circuitFailures" | "circuitProbeIntervalMs" | "circuitBudget">,
    probe: () => Promise<void>,
    onClosed: () => void,
    clock: Clock,
    logger: Logger,
  ) {
    this.#name = name;
    this.#options = options;
    this.#probe = probe;
    this.#onClosed = onClosed;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Whether calls fail fast now, while the instance is probed. */
  get open(): boolean {
    return this.#probing !== undefined;
  }

  /** What a call gets while the circuit is open. */
  openError(): VoteWithheldError {
    return new VoteWithheldError(
      `${this.#name}: circuit open after ${this.#options.circuitFailures} consecutive failures`,
    );
  }

  succeeded(): void {
    this.#failures = 0;
  }

  failed(): void {
    const nowMs = this.#clock.monotonicMs();
    if (this.#failures++ === 0) this.#firstFailureMs = nowMs;
    if (this.#failures < this.#options.circuitFailures || this.#probing || this.#stopped) return;
    if (nowMs - this.#firstFailureMs < this.#options.circuitProbeIntervalMs) return;
    if (!this.#options.circuitBudget.tryOpen()) return;
    this.#logger.warn(
      { instance: this.#name, failures: this.#failures },
      "instance circuit open: calls fail fast while it is probed",
    );
    this.#probing = setInterval(() => {
      this.#probe().then(
        () => {
          if (!this.#probing) return;
          clearInterval(this.#probing);
          this.#probing = undefined;
          this.#failures = 0;
          this.#options.circuitBudget.close();
          this.#onClosed();
          this.#logger.info({ instance: this.#name }, "instance circuit closed: it answers again");
        },
        () => undefined,
      );
    }, this.#options.circuitProbeIntervalMs);
    this.#probing.unref();
  }

  /** No more probes, and no new opening; an open circuit gives its place in the budget back. */
  stop(): void {
    this.#stopped = true;
    if (this.#probing) this.#options.circuitBudget.close();
    clearInterval(this.#probing);
  }
}
