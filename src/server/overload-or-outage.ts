import { LockError } from "../errors/lock-error.ts";
import type { OverloadGuard } from "../engine/overload-guard.ts";

/**
 * Runs an acquire (Acquire, Hold). When it fails because no majority answer
 * could be read in time while this sidecar is overloaded, the overload is
 * the truth to tell (RESOURCE_EXHAUSTED, OVERLOADED), not an outage: a
 * saturated sidecar reads its answers late though every instance is fine.
 */
export async function overloadNotOutage<T>(overload: OverloadGuard | undefined, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (error) {
    if (error instanceof LockError && error.code === "unavailable") throw overload?.refusal() ?? error;
    throw error;
  }
}
