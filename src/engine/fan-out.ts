import type { LockInstance } from "../instances/lock-instance.ts";
import { TimeoutError } from "../util/abort.ts";

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Calls every instance in parallel, each bounded by the same timeout from
 * the same start, and waits for all of them: a slow instance costs at most
 * `timeoutMs`, and the caller always learns every instance's answer (needed
 * to roll back). One timer serves the whole fan-out. A late answer is
 * ignored: a sent command cannot be unsent.
 */
export function fanOut<T>(
  instances: readonly LockInstance[],
  timeoutMs: number,
  call: (instance: LockInstance) => Promise<T>,
): Promise<Settled<T>[]> {
  return new Promise((resolve) => {
    const results = new Array<Settled<T> | undefined>(instances.length).fill(undefined);
    let pending = instances.length;
    let timer: NodeJS.Timeout | undefined;
    const settle = (index: number, result: Settled<T>): void => {
      if (results[index] !== undefined) return;
      results[index] = result;
      if (--pending > 0) return;
      clearTimeout(timer);
      resolve(results as Settled<T>[]);
    };
    if (pending === 0) {
      resolve([]);
      return;
    }
    timer = setTimeout(() => {
      const timedOut = new TimeoutError(timeoutMs);
      for (let i = 0; i < instances.length; i++) settle(i, { ok: false, error: timedOut });
    }, timeoutMs);
    instances.forEach((instance, index) => {
      let work: Promise<T>;
      try {
        work = call(instance);
      } catch (error) {
        settle(index, { ok: false, error });
        return;
      }
      work.then(
        (value) => settle(index, { ok: true, value }),
        (error: unknown) => settle(index, { ok: false, error }),
      );
    });
  });
}
