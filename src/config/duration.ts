/** Units largest first: a compound duration names them in this order, each at most once. */
const UNITS = [
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
] as const;
const UNIT_MS = new Map<string, number>(UNITS);
const UNIT_RANK = new Map<string, number>(UNITS.map(([unit], rank) => [unit, rank]));
// "ms" comes before "m" so that "5ms" is not read as 5 minutes and a stray "s".
const TERM = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;

/**
 * Parses `250ms`, `10s`, `1.5m`, `1h`, and sums of them with the units
 * largest first (`1m30s`, `1h2m3.5s`, `10s5ms`) into milliseconds;
 * undefined when malformed.
 */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  let total = 0;
  let lastRank = -1;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < trimmed.length) {
    const match = TERM.exec(trimmed);
    if (!match) return undefined;
    const rank = UNIT_RANK.get(match[2]!)!;
    // "30s1m" or "1m1m" is more likely a typo than a sum.
    if (rank <= lastRank) return undefined;
    lastRank = rank;
    total += Number(match[1]) * UNIT_MS.get(match[2]!)!;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** The shortest exact spelling of a millisecond count, for messages and help. */
export function formatDurationMs(ms: number): string {
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
