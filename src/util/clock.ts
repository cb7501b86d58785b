/**
 * Time, injected so the Redlock math and the engine can be tested without
 * waiting. Elapsed time is always measured on `monotonicMs`; the wall clock
 * is used only to express a deadline to callers (expires_at).
 */
export interface Clock {
  /** Milliseconds on a clock that never goes backwards (fractional). */
  monotonicMs(): number;
  /** Milliseconds since the Unix epoch, for timestamps shown to callers. */
  wallMs(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** Converts a point on the monotonic clock to wall-clock milliseconds. */
export function monotonicToWallMs(clock: Clock, monotonicMs: number): number {
  return clock.wallMs() + (monotonicMs - clock.monotonicMs());
}
