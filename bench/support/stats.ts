/** Small statistics helpers for benchmark reports. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return "-";
  return value.toFixed(digits);
}

/** Prints rows as an aligned text table. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
}

/**
 * The `p`th percentile of a Prometheus histogram from /metrics samples, as
 * the upper bound of its bucket (seconds), over what was observed between
 * two scrapes (`before` undefined: since start). NaN when nothing was.
 */
export function histogramPercentile(
  before: Map<string, number> | undefined,
  after: Map<string, number>,
  name: string,
  p: number,
): number {
  const buckets: { le: number; count: number }[] = [];
  for (const [key, value] of after) {
    const match = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(key);
    if (match) buckets.push({ le: Number(match[1]), count: value - (before?.get(key) ?? 0) });
  }
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return Number.NaN;
  return buckets.find((b) => b.count >= (p / 100) * total)?.le ?? Number.NaN;
}

/** A message with its figures left out, to count messages by kind: each reading would be a kind of its own. */
export function withoutFigures(message: string): string {
  return message.replace(/\d+(\.\d+)?/g, "#");
}
