/**
 * The option a mistyped one most likely meant: one that starts with it
 * (`--admin` for `--admin-address`), else the nearest by edit distance
 * (a swap of two neighbours counts as one edit), if it is near enough to be
 * a typo. Ties go to the earlier name in `known`: list the likelier first.
 * Undefined when nothing is close.
 */
export function closestOption(typed: string, known: readonly string[]): string | undefined {
  if (typed.length >= 3) {
    const extended = known.filter((name) => name.startsWith(typed));
    if (extended.length === 1) return extended[0];
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const distance = editDistance(typed, name);
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  // Two edits turn any short name into another: allow fewer for short ones.
  const allowed = Math.min(2, Math.floor(Math.max(typed.length, 1) / 3));
  return bestDistance <= Math.max(1, allowed) ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
