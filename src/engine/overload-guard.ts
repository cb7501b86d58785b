import { LockError } from "../errors/lock-error.ts";

/** Why new work is refused: renewals are late, the event loop is, or the heap is filling up. */
export type OverloadCause = "renewal_lag" | "event_loop_delay" | "heap";

export const OVERLOAD_CAUSES: readonly OverloadCause[] = ["renewal_lag", "event_loop_delay", "heap"];

/** The load signals, read when a call asks for new work. */
export interface LoadSignals {
  /** How late renewals of kept-alive leases are answered after their due time, lately or right now (ms). */
  renewalLagMs(): number;
  /** How long the event loop was held up lately (ms). */
  eventLoopDelayMs(): number;
  /** The V8 heap in use as a share of its limit, at its lowest lately (0 to 1). */
  heapShare(): number;
}

/** When each signal counts as overload; 0 turns that check off. */
export interface OverloadLimits {
  /** Renewal lag and event-loop delay, in ms (LOCK_OVERLOAD_LAG). */
  lagMs: number;
  /** Heap in use, in percent of V8's heap limit (LOCK_OVERLOAD_HEAP). */
  heapPercent: number;
  /** How long every signal must have stayed under its limit before new work is taken again (LOCK_OVERLOAD_SETTLE). */
  settleMs: number;
}

/**
 * How long a signal must read over its limit, on every reading, before the
 * settle time applies (ms). Shorter overloads are refused only while they
 * last: one late renewal echoes in the lag signal for up to 2 s, and a
 * single pause (a long collection, a slow instance) is not a load to wait out.
 */
export const SUSTAINED_MS = 3000;

/** Hears each refusal (metrics). */
export interface OverloadObserver {
  overloadRefused(cause: OverloadCause): void;
}

/** A signal past its limit: which one, and what it read. */
export interface Overload {
  cause: OverloadCause;
  reading: number;
}

/**
 * The overload decision for one reading of the signals: the first past its
 * limit, if any (renewal lag first: it is what loses leases).
 */
export function overloadNow(
  signals: LoadSignals,
  limits: Pick<OverloadLimits, "lagMs" | "heapPercent">,
): Overload | undefined {
  if (limits.lagMs > 0) {
    const lagMs = signals.renewalLagMs();
    if (lagMs > limits.lagMs) return { cause: "renewal_lag", reading: lagMs };
    const delayMs = signals.eventLoopDelayMs();
    if (delayMs > limits.lagMs) return { cause: "event_loop_delay", reading: delayMs };
  }
  if (limits.heapPercent > 0) {
    const percent = signals.heapShare() * 100;
    if (percent > limits.heapPercent) return { cause: "heap", reading: percent };
  }
  return undefined;
}

/**
 * Admission control for new work (Acquire, Hold, a KeepAlive that starts
 * keeping a lease): refused with RESOURCE_EXHAUSTED while the sidecar is
 * behind, and after it was behind for SUSTAINED_MS, until it has kept up
 * for the settle time since (see
 * docs/design.md, "Overload"), so the leases it already holds keep being
 * renewed in time. Renewals of held leases (KeepAlive streams, Extend,
 * Release) are never refused here.
 */
export class OverloadGuard {
  readonly #signals: LoadSignals;
  readonly #limits: OverloadLimits;
  readonly #nowMs: () => number;
  readonly #observer: OverloadObserver | undefined;
  /** Since when every reading showed an overload (monotonic ms), if the last one did. */
  #overSinceMs: number | undefined;
  /** The last sustained overload seen, and when (monotonic ms): the settle time runs from it. */
  #last: (Overload & { atMs: number }) | undefined;

  /** `nowMs`: a monotonic clock, in ms. */
  constructor(signals: LoadSignals, limits: OverloadLimits, nowMs: () => number, observer?: OverloadObserver) {
    this.#signals = signals;
    this.#limits = limits;
    this.#nowMs = nowMs;
    this.#observer = observer;
  }

  /**
   * Reads the signals every `everyMs` between calls too, so that an overload
   * no call happened to see still starts the settle time. Returns the stop.
   */
  watch(everyMs: number): () => void {
    const timer = setInterval(() => this.#read(), everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The error to refuse new work with now, or undefined to take it. */
  refusal(): LockError | undefined {
    const now = this.#read();
    if (now !== undefined) {
      this.#observer?.overloadRefused(now.cause);
      return this.#error(now, undefined);
    }
    const last = this.#last;
    if (last === undefined) return undefined;
    const sinceMs = this.#nowMs() - last.atMs;
    if (sinceMs >= this.#limits.settleMs) {
      this.#last = undefined;
      return undefined;
    }
    this.#observer?.overloadRefused(last.cause);
    return this.#error(last, sinceMs);
  }

  /** The overload the signals show now, if any; remembered once it has lasted SUSTAINED_MS. */
  #read(): Overload | undefined {
    const now = overloadNow(this.#signals, this.#limits);
    if (now === undefined) {
      this.#overSinceMs = undefined;
      return undefined;
    }
    const nowMs = this.#nowMs();
    this.#overSinceMs ??= nowMs;
    if (nowMs - this.#overSinceMs >= SUSTAINED_MS) this.#last = { ...now, atMs: nowMs };
    return now;
  }

  #error(overload: Overload, sinceMs: number | undefined): LockError {
    const { cause, reading } = overload;
    const { lagMs, heapPercent, settleMs } = this.#limits;
    const now = sinceMs === undefined;
    const ago = now ? "" : ` ${(sinceMs / 1000).toFixed(1)} s ago`;
    const what =
      cause === "renewal_lag"
        ? `renewals of held leases ${now ? "are" : "were"} running ${Math.round(reading)} ms late${ago}, past LOCK_OVERLOAD_LAG (${lagMs} ms)`
        : cause === "event_loop_delay"
          ? `the event loop was held up for ${Math.round(reading)} ms${ago}, past LOCK_OVERLOAD_LAG (${lagMs} ms)`
          : `${reading.toFixed(1)} % of the heap limit ${now ? "is" : "was"} in use${ago}, past LOCK_OVERLOAD_HEAP (${heapPercent} %)`;
    const setting = cause === "heap" ? "LOCK_OVERLOAD_HEAP" : "LOCK_OVERLOAD_LAG";
    return new LockError(
      "resource-exhausted",
      `this sidecar is overloaded: ${what}; new leases are refused until it has kept up for ` +
        `LOCK_OVERLOAD_SETTLE (${settleMs} ms), held ones are still renewed`,
      { reason: "OVERLOADED", metadata: { setting, cause } },
    );
  }
}
