import type { Interval } from "./checker.ts";
import type { FaultRecord, History } from "./history.ts";

/**
 * How long calls answered UNAVAILABLE during a rolling restart: the union
 * of the spans (sent to answered) of every failing unary call, probes
 * included, clipped to the rolling restart's window. The operator's figure
 * of issue 13: the time in which the lock service was out. Pure: no I/O.
 */

const UNAVAILABLE = 14;

export interface UnavailableTime {
  window: Interval;
  /** Time within the window covered by failing calls. */
  ms: number;
  /** Failing calls that overlap the window. */
  calls: number;
}

/** From the first kill until one gap after the last restart; undefined if none ran. */
export function rollingRestartWindow(record: FaultRecord): Interval | undefined {
  const first = record.restarts?.[0];
  return first ? { start: first.beganAt, end: record.endAt } : undefined;
}

/** The time within `window` during which some call that answered UNAVAILABLE was under way. */
export function unavailableWithin(history: History, window: Interval): UnavailableTime {
  const spans = [
    ...history.failedCalls.filter((c) => c.code === UNAVAILABLE).map((c) => ({ start: c.sentAt, end: c.endedAt })),
    ...history.probes
      .filter((p) => p.outcome === "error" && p.code === UNAVAILABLE)
      .map((p) => ({ start: p.sentAt, end: p.endedAt })),
  ]
    .map((s) => ({ start: Math.max(s.start, window.start), end: Math.min(s.end, window.end) }))
    .filter((s) => s.end > s.start);
  return { window, ms: unionMs(spans), calls: spans.length };
}

/** Total length of the union of intervals. */
export function unionMs(spans: readonly Interval[]): number {
  let total = 0;
  let reached = Number.NEGATIVE_INFINITY;
  for (const { start, end } of [...spans].sort((a, b) => a.start - b.start)) {
    if (end <= reached) continue;
    total += end - Math.max(start, reached);
    reached = end;
  }
  return total;
}
