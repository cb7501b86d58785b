/**
 * Clock drift allowance of the Redlock spec: 1% of the TTL for clock rate
 * differences, plus 1 ms for Redis expiry precision and 1 ms minimum drift.
 */
export function driftMs(ttlMs: number): number {
  return Math.floor(ttlMs * 0.01) + 2;
}

/** Remaining validity after an attempt that took `elapsedMs`: TTL - elapsed - drift. */
export function validityMs(ttlMs: number, elapsedMs: number): number {
  return ttlMs - elapsedMs - driftMs(ttlMs);
}

/**
 * Conservative end of a lease on the monotonic clock, as the API promises:
 * start of the attempt + TTL - elapsed - drift. It subtracts the elapsed time
 * although the keys were written after the start, so it errs on the early side.
 */
export function leaseEndMs(startMs: number, ttlMs: number, elapsedMs: number): number {
  return startMs + validityMs(ttlMs, elapsedMs);
}

/**
 * Whether a majority answer still leaves a lease worth reporting: its
 * conservative end must lie after the moment the answer arrived.
 */
export function isStillValid(startMs: number, ttlMs: number, elapsedMs: number): boolean {
  return validityMs(ttlMs, elapsedMs) > 0 && leaseEndMs(startMs, ttlMs, elapsedMs) > startMs + elapsedMs;
}
