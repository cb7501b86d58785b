import type { LockKeys } from "../instances/lock-instance.ts";
import type { EngineParts } from "./engine-parts.ts";
import type { AcquireResult } from "./lease.ts";
import type { RedlockRound } from "./redlock-round.ts";
import { answerBehindQueue, headIntervalMs, refusalResult } from "./refusal.ts";
import type { ReleaseStep } from "./release-step.ts";

/**
 * One try, for a caller without a wait or whose wait ran out in the queue.
 * Callers queued here go first: behind them it answers from their head's
 * attempts when those tell (answerBehindQueue), or else asks the instances
 * itself and hands a grant over to the head (it waited longer).
 */
export class AcquireOnce {
  readonly #parts: EngineParts;
  readonly #round: RedlockRound;
  readonly #release: ReleaseStep;

  constructor(parts: EngineParts, round: RedlockRound, release: ReleaseStep) {
    this.#parts = parts;
    this.#round = round;
    this.#release = release;
  }

  /** `queuedAtMs`: when the caller asked; the head's attempts since then answer for it. */
  async acquire(
    name: string,
    keys: LockKeys,
    ttlMs: number,
    queuedAtMs: number,
    signal: AbortSignal | undefined,
    owner = "",
  ): Promise<AcquireResult> {
    const { clock, instances, quorum, queues, options } = this.#parts;
    const behind = queues.size(name) > 0;
    const known = behind
      ? answerBehindQueue(queues.latestVerdict(name), clock.monotonicMs(), queuedAtMs, headIntervalMs(options))
      : undefined;
    if (known) return refusalResult(known, instances.length, quorum);
    const verdict = await this.#round.attempt(name, keys, ttlMs, "", signal, owner);
    if (verdict.kind !== "granted") return refusalResult(verdict, instances.length, quorum);
    if (!behind || queues.size(name) === 0) return { acquired: true, lease: verdict.lease };
    // The lock was free, but callers queued here go first: hand it to their head.
    await this.#release.release(name, verdict.lease.id).catch(() => undefined);
    return { acquired: false, retryAfterMs: undefined };
  }
}
