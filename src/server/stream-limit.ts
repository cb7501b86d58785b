import { LockError } from "../errors/lock-error.ts";

/**
 * The refusal of a new stream while LOCK_MAX_STREAMS streams are open, or
 * undefined when there is room. `what` names the streams as the caller's
 * users know them ("KeepAlive", "KeepAlive and Hold").
 */
export function streamLimitRefusal(open: number, maxStreams: number, what: string): LockError | undefined {
  if (open < maxStreams) return undefined;
  return new LockError(
    "resource-exhausted",
    `${maxStreams} ${what} streams are open on this sidecar, its limit (LOCK_MAX_STREAMS)`,
    { metadata: { setting: "LOCK_MAX_STREAMS" } },
  );
}
