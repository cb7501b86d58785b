import { LockError } from "../errors/lock-error.ts";

/** Why new work is refused: renewals are late, or the event loop is. */
export type OverloadCause = "renewal_lag" | "event_loop_delay";

export const OVERLOAD_CAUSES: readonly OverloadCause[] = ["renewal_lag", "event_loop_delay"];

/** The load signals, in ms, read when a call asks for new work. */
export interface LoadSignals {
  /** How late renewals of kept-alive leases are answered after their due time, lately or right now. */
  renewalLagMs(): number;
  /** How long the event loop was held up lately. */
  eventLoopDelayMs(): number;
}

/** Hears each refusal (metrics). */
export interface OverloadObserver {
  overloadRefused(cause: OverloadCause): void;
}

/**
 * The overload decision: which signal is past the threshold, if any
 * (renewal lag first: it is what loses leases). A threshold of 0 turns the
 * check off.
 */
export function overloadCause(
  renewalLagMs: number,
  eventLoopDelayMs: number,
  thresholdMs: number,
): OverloadCause | undefined {
  if (thresholdMs <= 0) return undefined;
  if (renewalLagMs > thresholdMs) return "renewal_lag";
  if (eventLoopDelayMs > thresholdMs) return "event_loop_delay";
  return undefined;
}

/**
 * Admission control for new work (Acquire, Hold, a KeepAlive that starts
 * keeping a lease): refused with RESOURCE_EXHAUSTED while the sidecar is
 * behind, so the leases it already holds keep being renewed in time.
 * Renewals of held leases (KeepAlive streams, Extend, Release) are never
 * refused here.
 */
export class OverloadGuard {
  readonly #signals: LoadSignals;
  readonly #thresholdMs: number;
  readonly #observer: OverloadObserver | undefined;

  constructor(signals: LoadSignals, thresholdMs: number, observer?: OverloadObserver) {
    this.#signals = signals;
    this.#thresholdMs = thresholdMs;
    this.#observer = observer;
  }

  /** The error to refuse new work with now, or undefined to take it. */
  refusal(): LockError | undefined {
    if (this.#thresholdMs <= 0) return undefined;
    const lagMs = this.#signals.renewalLagMs();
    const delayMs = this.#signals.eventLoopDelayMs();
    const cause = overloadCause(lagMs, delayMs, this.#thresholdMs);
    if (cause === undefined) return undefined;
    this.#observer?.overloadRefused(cause);
    const what =
      cause === "renewal_lag"
        ? `renewals of held leases are running ${Math.round(lagMs)} ms late`
        : `the event loop was held up for ${Math.round(delayMs)} ms`;
    return new LockError(
      "resource-exhausted",
      `this sidecar is overloaded: ${what}, past LOCK_OVERLOAD_LAG (${this.#thresholdMs} ms); new leases ` +
        "are refused until it catches up, held ones are still renewed",
      {
        reason: "OVERLOADED",
        metadata: { setting: "LOCK_OVERLOAD_LAG", cause },
      },
    );
  }
}
