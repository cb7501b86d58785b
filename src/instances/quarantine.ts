import type { Logger } from "../log/logger.ts";
import type { Clock } from "../util/clock.ts";
import { sleep } from "../util/abort.ts";
import type { RestartWitnesses } from "./restart-witnesses.ts";

/**
 * How the end of a quarantine was set:
 * - `pending`: the witnesses are being asked; LOCK_MAX_TTL holds meanwhile;
 * - `witnessed`: the others' longest lease bounds it (docs/design.md);
 * - `fallback`: LOCK_MAX_TTL: too few witnesses (asked again every second),
 *   or a lock key without expiry on one (not asked again: it would be found again);
 * - `max-ttl`: no witnesses to ask (the plain rule).
 */
export type QuarantineBasis = "pending" | "witnessed" | "fallback" | "max-ttl";

/** Between two asks of the witnesses while in fallback. */
const FALLBACK_RETRY_MS = 1000;

/**
 * The restart quarantine of one instance: until when its votes are
 * withheld, and why. Starts at the fallback end, then shortens it to what
 * the witnesses show once they answer. One episode per restart noticed: an
 * answer for an older episode is dropped.
 */
export class Quarantine {
  readonly #instance: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #witnesses: RestartWitnesses | undefined;
  readonly #stop = new AbortController();
  #untilMs = Number.NEGATIVE_INFINITY;
  #basis: QuarantineBasis = "max-ttl";
  #episode = 0;
  /** The earliest the current episode may end, whatever the witnesses show. */
  #notBeforeMs = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(instance: string, clock: Clock, logger: Logger, witnesses: RestartWitnesses | undefined) {
    this.#instance = instance;
    this.#clock = clock;
    this.#logger = logger;
    this.#witnesses = witnesses;
  }

  active(): boolean {
    return this.#clock.monotonicMs() < this.#untilMs;
  }

  get untilMs(): number {
    return this.#untilMs;
  }

  /** How the current (or last) quarantine's end was set. */
  get basis(): QuarantineBasis {
    return this.#basis;
  }

  remainingMs(): number {
    return Math.max(0, this.#untilMs - this.#clock.monotonicMs());
  }

  /**
   * Starts a quarantine until `fallbackUntilMs` at the latest; the witnesses
   * may shorten it, but not to before `notBeforeMs`.
   */
  start(fallbackUntilMs: number, message: string, notBeforeMs = Number.NEGATIVE_INFINITY): void {
    const episode = ++this.#episode;
    this.#notBeforeMs = notBeforeMs;
    this.#set(fallbackUntilMs);
    this.#logger.warn({ instance: this.#instance, quarantineMs: Math.round(this.remainingMs()) }, message);
    if (!this.#witnesses) {
      this.#basis = "max-ttl";
      return;
    }
    this.#basis = "pending";
    void this.#askWitnesses(episode, this.#witnesses);
  }

  close(): void {
    this.#stop.abort();
    clearTimeout(this.#timer);
  }

  async #askWitnesses(episode: number, witnesses: RestartWitnesses): Promise<void> {
    let warned = false;
    while (episode === this.#episode && this.active() && !this.#stop.signal.aborted) {
      const bound = await witnesses.boundFor(this.#instance, this.#stop.signal);
      if (episode !== this.#episode || this.#stop.signal.aborted) return;
      if (bound.kind === "witnessed") {
        this.#basis = "witnessed";
        const untilMs = Math.max(bound.untilMs, this.#notBeforeMs);
        if (untilMs < this.#untilMs) this.#set(untilMs);
        this.#logger.info(
          {
            instance: this.#instance,
            quarantineMs: Math.round(this.remainingMs()),
            longestLeaseMs: bound.longestMs,
            witnesses: bound.witnesses,
          },
          "instance quarantine shortened: no lease it may have forgotten outlives it",
        );
        return;
      }
      this.#basis = "fallback";
      if (bound.kind === "unbounded") {
        this.#logger.warn(
          { instance: this.#instance, quarantineMs: Math.round(this.remainingMs()), reason: bound.reason },
          "instance quarantine lasts LOCK_MAX_TTL: a lock key without expiry on a witness bounds nothing shorter; not asking again",
        );
        return;
      }
      if (!warned) {
        warned = true;
        this.#logger.warn(
          { instance: this.#instance, quarantineMs: Math.round(this.remainingMs()), reason: bound.reason },
          "instance quarantine falls back to LOCK_MAX_TTL: the leases it may have forgotten cannot be bounded; asking again every second",
        );
      }
      await sleep(FALLBACK_RETRY_MS, this.#stop.signal).catch(() => undefined);
    }
  }

  #set(untilMs: number): void {
    this.#untilMs = untilMs;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => this.#logger.info({ instance: this.#instance }, "instance quarantine over: its votes count again"),
      this.remainingMs(),
    );
    this.#timer.unref();
  }
}
