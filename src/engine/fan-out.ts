import type { LockInstance } from "../instances/lock-instance.ts";
import { TimeoutError } from "../util/abort.ts";
import { answerLimitMs, startAnswerTimer } from "../util/answer-timer.ts";

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Calls every instance in parallel, each bounded by the same timeout from
 * the same start, and waits for all of them: a slow instance costs at most
 * `timeoutMs`, and the caller always learns every instance's answer (needed
 * to roll back). A late answer is ignored: a sent command cannot be unsent.
 */
export function fanOut<T>(
  instances: readonly LockInstance[],
  timeoutMs: number,
  call: (instance: LockInstance) => Promise<T>,
): Promise<Settled<T>[]> {
  return fanOutUntil(instances, timeoutMs, call, () => false).first;
}

/** Stands for an answer still outstanding when `fanOutUntil` resolved early. */
export class StillPending extends Error {
  override readonly name = "StillPending";
  constructor() {
    super("no answer yet");
  }
}

// One shared instance: capturing a stack per early answer showed in the
// sidecar's CPU profile (~2% under load), and this one's stack says nothing.
const stillPending = new StillPending();

/**
 * As `fanOut`, but `first` resolves as soon as `enough` holds for the
 * answers in so far (a majority granted: the slowest instance need not be
 * waited for), with StillPending failures for the others; otherwise once
 * all are in. `all` always resolves with every answer. One timer serves the
 * whole fan-out. Kept as one function: the answers, the timer and both
 * promises are the state of one fan-out, shared by its closures.
 */
export function fanOutUntil<T>(
  instances: readonly LockInstance[],
  timeoutMs: number,
  call: (instance: LockInstance) => Promise<T>,
  enough: (answers: readonly (Settled<T> | undefined)[]) => boolean,
): { first: Promise<Settled<T>[]>; all: Promise<Settled<T>[]> } {
  const results = new Array<Settled<T> | undefined>(instances.length).fill(undefined);
  let resolveFirst!: (results: Settled<T>[]) => void;
  let resolveAll!: (results: Settled<T>[]) => void;
  const first = new Promise<Settled<T>[]>((resolve) => (resolveFirst = resolve));
  const all = new Promise<Settled<T>[]>((resolve) => (resolveAll = resolve));
  let pending = instances.length;
  if (pending === 0) {
    resolveFirst([]);
    resolveAll([]);
    return { first, all };
  }
  let early = false;
  const settle = (index: number, result: Settled<T>): void => {
    if (results[index] !== undefined) return;
    results[index] = result;
    if (--pending === 0) {
      stopTimer();
      const complete = results as Settled<T>[];
      resolveFirst(complete);
      resolveAll(complete);
    } else if (!early && enough(results)) {
      early = true;
      resolveFirst(results.map((r) => r ?? { ok: false, error: stillPending }));
    }
  };
  // An answer already received counts even when this process was held up
  // past the timeout (see startAnswerTimer).
  const stopTimer = startAnswerTimer(timeoutMs, () => {
    const timedOut = new TimeoutError(timeoutMs);
    for (let i = 0; i < instances.length; i++) settle(i, { ok: false, error: timedOut });
  });
  // The process's monotonic clock, as the restart witnesses' wait uses.
  const sentMs = performance.now();
  const limitMs = answerLimitMs(timeoutMs);
  const tooLate = (): TimeoutError => new TimeoutError(timeoutMs, limitMs);
  instances.forEach((instance, index) => {
    let work: Promise<T>;
    try {
      work = call(instance);
    } catch (error) {
      settle(index, { ok: false, error });
      return;
    }
    work.then(
      (value) =>
        // Read too long after the send (the event loop stalled): not a vote, see answerLimitMs.
        settle(index, performance.now() - sentMs <= limitMs ? { ok: true, value } : { ok: false, error: tooLate() }),
      (error: unknown) => settle(index, { ok: false, error }),
    );
  });
  return { first, all };
}

/** Answers in (and successful) whose value satisfies `test`; missing ones (still out) do not count. */
export function countAnswers<T>(answers: readonly (Settled<T> | undefined)[], test: (value: T) => boolean): number {
  let count = 0;
  for (const answer of answers) if (answer?.ok === true && test(answer.value)) count++;
  return count;
}
