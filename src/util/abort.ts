import { LockError } from "../errors/lock-error.ts";
import { startAnswerTimer } from "./answer-timer.ts";

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The LockError an aborted signal stands for (cancel, deadline, shutdown). */
export function abortReason(signal: AbortSignal): LockError {
  const reason: unknown = signal.reason;
  if (reason instanceof LockError) return reason;
  return new LockError("cancelled", "call cancelled");
}

/** Throws the abort reason when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * A controller that aborts when any parent signal aborts. `cleanup` detaches
 * it from the parents, so long-lived parents (shutdown) do not accumulate
 * listeners from short-lived calls.
 */
export function linkedController(...parents: (AbortSignal | undefined)[]): {
  controller: AbortController;
  cleanup: () => void;
} {
  const controller = new AbortController();
  const detach: (() => void)[] = [];
  for (const parent of parents) {
    if (!parent) continue;
    if (parent.aborted) {
      controller.abort(parent.reason);
      break;
    }
    const onAbort = (): void => controller.abort(parent.reason);
    parent.addEventListener("abort", onAbort, { once: true });
    detach.push(() => parent.removeEventListener("abort", onAbort));
  }
  return { controller, cleanup: () => detach.forEach((d) => d()) };
}

/**
 * Races `work` against a timeout and a signal. The work itself is not
 * stopped (a sent command cannot be unsent); its late result is ignored.
 * An answer already received when the timer fires late still wins (see
 * startAnswerTimer).
 */
export function withTimeout<T>(work: Promise<T>, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      work.catch(() => undefined);
      reject(abortReason(signal));
      return;
    }
    const finish = (): void => {
      stopTimer();
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = (): void => {
      finish();
      reject(abortReason(signal!));
    };
    const stopTimer = startAnswerTimer(timeoutMs, () => {
      finish();
      reject(new TimeoutError(timeoutMs));
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        finish();
        resolve(value);
      },
      (error: unknown) => {
        finish();
        reject(error);
      },
    );
  });
}

export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
  /** `readAfterMs`: an answer came, but was read this long after the call, too late to count. */
  constructor(timeoutMs: number, readAfterMs?: number) {
    super(
      readAfterMs === undefined
        ? `no answer within ${timeoutMs} ms`
        : `answer read more than ${readAfterMs} ms after the call (this process was held up): not counted`,
    );
  }
}
