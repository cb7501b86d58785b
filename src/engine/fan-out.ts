import { withTimeout } from "../util/abort.ts";
import type { LockInstance } from "../instances/lock-instance.ts";

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Calls every instance in parallel, each bounded by its own timeout, and
 * waits for all of them: a slow instance costs at most `timeoutMs`, and the
 * caller always learns every instance's answer (needed to roll back).
 */
export function fanOut<T>(
  instances: readonly LockInstance[],
  timeoutMs: number,
  call: (instance: LockInstance) => Promise<T>,
): Promise<Settled<T>[]> {
  return Promise.all(
    instances.map(async (instance): Promise<Settled<T>> => {
      try {
        return { ok: true, value: await withTimeout(call(instance), timeoutMs) };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
}
