import type { LockKeys } from "../instances/lock-instance.ts";
import type { AcquireOnce } from "./acquire-once.ts";
import type { EngineParts } from "./engine-parts.ts";
import type { AcquireResult } from "./lease.ts";
import type { Turn } from "./local-queue.ts";
import type { Attempt, RedlockRound } from "./redlock-round.ts";
import { refusalResult, type Refusal } from "./refusal.ts";
import type { ReleaseStep } from "./release-step.ts";
import type { Watch } from "./release-watch.ts";

/** One acquire that may wait. */
interface WaitingCall {
  name: string;
  keys: LockKeys;
  ttlMs: number;
  /** When the wait runs out (monotonic ms). */
  waitEndMs: number;
  signal: AbortSignal | undefined;
  /** Recorded with the lock when granted. */
  owner: string;
}

/** The steps a waiting head uses: a round, a try behind the queue, and a release (of a grant that came too late). */
interface HeadSteps {
  round: RedlockRound;
  once: AcquireOnce;
  release: ReleaseStep;
}

/**
 * Acquire with a wait. Callers of this sidecar queue FIFO per name and only
 * the head contends: it presents the queue's waiting ticket (so other
 * sidecars' newcomers cannot overtake it), and between attempts it sleeps
 * until a release is announced, the holder's TTL runs out or the fallback
 * delay passes. A caller whose wait runs out while still queued gets one
 * try of its own (AcquireOnce).
 */
export class WaitingAcquire {
  readonly #parts: EngineParts;
  readonly #steps: HeadSteps;

  constructor(parts: EngineParts, steps: HeadSteps) {
    this.#parts = parts;
    this.#steps = steps;
  }

  async acquire(
    name: string,
    keys: LockKeys,
    ttlMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
    owner = "",
  ): Promise<AcquireResult> {
    const startMs = this.#parts.clock.monotonicMs();
    const turn = await this.#parts.queues.enter(name, waitMs, signal);
    if (!turn) return this.#steps.once.acquire(name, keys, ttlMs, startMs, signal, owner);
    return new HeadWait(
      this.#parts,
      this.#steps,
      { name, keys, ttlMs, waitEndMs: startMs + waitMs, signal, owner },
      turn,
    ).run();
  }
}

/** What a head does next: answer its caller, or try again after the last refusal (none: after a grant here). */
type Step =
  | { kind: "answer"; result: AcquireResult }
  | { kind: "retry"; after: Refusal | undefined; remainingMs: number };

/**
 * One caller's wait at the head of the queue, as a progression of tries:
 * each step either answers (a grant, or the last refusal once the wait ran
 * out) or makes the next try, after a wait or straight from a release here.
 */
class HeadWait {
  readonly #parts: EngineParts;
  readonly #steps: HeadSteps;
  readonly #call: WaitingCall;
  readonly #turn: Turn;
  /** The outcome of the last try: an attempt, or a handover from a release here. */
  #verdict: Attempt | undefined;
  /** The last try followed the tickets' order, as opposed to a handover within a batch. */
  #fair = true;
  /** The queue's release subscription: it lasts while anyone here waits on the name. */
  #watch: Watch | undefined;

  constructor(parts: EngineParts, steps: HeadSteps, call: WaitingCall, turn: Turn) {
    this.#parts = parts;
    this.#steps = steps;
    this.#call = call;
    this.#turn = turn;
    this.#watch = turn.watch;
  }

  async run(): Promise<AcquireResult> {
    try {
      await this.#firstTry();
      for (;;) {
        const step = this.#nextStep();
        if (step.kind === "answer") return step.result;
        await this.#nextTry(step.after, step.remainingMs);
      }
    } finally {
      this.#leave();
    }
  }

  /**
   * At once, unless the caller just served here holds the lock: then its
   * release hands the lock over. Notices so far were for releases before
   * that grant; a watch opened now has heard only later ones.
   */
  async #firstTry(): Promise<void> {
    if (!this.#turn.afterGrant) return this.#tryNow();
    if (this.#watch) this.#watch.clearPending();
    else this.#watch = await this.#openWatch();
  }

  /** A grant answers; so does the last refusal once the wait ran out. Otherwise: try again. */
  #nextStep(): Step {
    const { clock, instances, quorum } = this.#parts;
    const verdict = this.#verdict;
    if (verdict?.kind === "granted") return { kind: "answer", result: { acquired: true, lease: verdict.lease } };
    const remainingMs = this.#call.waitEndMs - clock.monotonicMs();
    if (verdict && remainingMs <= 0)
      return { kind: "answer", result: refusalResult(verdict, instances.length, quorum) };
    return { kind: "retry", after: verdict, remainingMs };
  }

  /** Subscribes if needed, then waits; a release here may try us in its own step (that is then this try). */
  async #nextTry(after: Refusal | undefined, remainingMs: number): Promise<void> {
    if (!this.#watch) {
      this.#watch = await this.#openWatch();
      // A release between that attempt and a new subscription went unannounced.
      if (this.#watch.fresh) return this.#tryNow();
    }
    const handed = await this.#waitAsHead(this.#watch, Math.max(0, Math.min(this.#pauseMs(after), remainingMs)));
    if (handed) {
      this.#verdict = handed.outcome;
      this.#fair = !handed.overtook;
      return;
    }
    this.#watch.clearPending();
    return this.#tryNow();
  }

  async #tryNow(): Promise<void> {
    const { name, keys, ttlMs, signal, owner } = this.#call;
    this.#verdict = await this.#steps.round.attempt(name, keys, ttlMs, this.#turn.ticket(), signal, owner);
    this.#fair = true;
  }

  /** The subscription belongs to the queue: it goes the moment the last waiter here leaves. */
  async #openWatch(): Promise<Watch> {
    const { name, keys } = this.#call;
    return this.#turn.keepWatch(await this.#parts.watches.open(name, keys.channel, this.#turn.currentTicket));
  }

  /**
   * The head's wait between tries: until a release is announced, `delayMs`
   * passes, or a caller of this sidecar releases the lock and tries us in
   * the same step (then its outcome). An abort during a handover in flight
   * waits for its outcome, so a grant that lands is released, not leaked.
   */
  async #waitAsHead(watch: Watch, delayMs: number): Promise<{ outcome: Attempt; overtook: boolean } | undefined> {
    const { name, ttlMs, signal, owner } = this.#call;
    const overtake = this.#turn.inBatch();
    const offer = this.#parts.offers.offer(name, {
      ttlMs,
      owner,
      ticket: this.#turn.ticket,
      overtake,
      signal,
      wake: () => watch.interrupt(),
    });
    let aborted: { reason: unknown } | undefined;
    try {
      await watch.wait(delayMs, signal);
    } catch (reason) {
      aborted = { reason };
    }
    const handed = offer.close();
    if (!handed) {
      if (aborted) throw aborted.reason;
      return undefined;
    }
    const outcome = await handed;
    if (aborted) {
      if (outcome.kind === "granted") await this.#steps.release.release(name, outcome.lease.id).catch(() => undefined);
      throw aborted.reason;
    }
    return { outcome, overtook: overtake };
  }

  /** The fallback pause before the next try, for when no release is announced. */
  #pauseMs(after: Refusal | undefined): number {
    const { retryDelayMs, retryJitterMs, waitTicketTtlMs } = this.#parts.options;
    const jitteredMs = retryDelayMs + this.#parts.random.unit() * retryJitterMs;
    // No refusal yet: the caller just served here holds the lock, and its release will wake us.
    if (!after) return jitteredMs;
    // It also refreshes the waiting ticket well before the ticket expires.
    const delayMs = Math.min(jitteredMs, waitTicketTtlMs / 3);
    // No point sleeping past the moment the holder's lease runs out.
    if (after.kind === "contended" && after.retryAfterMs !== undefined && after.retryAfterMs >= 0)
      return Math.min(delayMs, after.retryAfterMs + 1);
    return delayMs;
  }

  /** Leaves the head of the queue; with nobody else waiting here, other sidecars' waiters go first now. */
  #leave(): void {
    const acquired = this.#verdict?.kind === "granted";
    const { emptied, ticket } = this.#turn.leave(acquired, this.#fair);
    if (!emptied || acquired || ticket === undefined) return;
    const { calls, instances } = this.#parts;
    const { keys } = this.#call;
    void calls.fanOut(instances, (i) => i.withdrawTicket(keys.queue, ticket));
  }
}
