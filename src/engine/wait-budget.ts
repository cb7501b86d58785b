/** Scheduling slack: timers and the answer's trip back to the client take a few ms. */
const ANSWER_MARGIN_MS = 5;

/**
 * How long an acquire may wait so that it still answers before the call's
 * deadline: its last attempt may take one instance timeout, and rolling
 * that attempt back another, before the answer goes out.
 */
export function waitWithinDeadline(askedWaitMs: number, remainingMs: number, instanceTimeoutMs: number): number {
  const budgetMs = remainingMs - 2 * instanceTimeoutMs - ANSWER_MARGIN_MS;
  return Math.max(0, Math.min(askedWaitMs, budgetMs));
}
