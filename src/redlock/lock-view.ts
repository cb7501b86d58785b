/** Who holds a lock, as an instance recorded it. */
export interface RecordedHolder {
  owner: string;
  /** When the grant started, on the granting sidecar's wall clock (ms). */
  sinceMs: number;
}

/** One instance's reading of a lock; undefined in the list when it did not answer. */
export interface LockRead {
  /** The lock key's remaining TTL (ms): -2 free, -1 without expiry. */
  ttlMs: number;
  holder: RecordedHolder | undefined;
  fence: bigint | undefined;
  /** Live waiting tickets. */
  tickets: number;
}

/** A lock as a majority of instances sees it. */
export type LockView =
  | {
      kind: "held";
      answered: number;
      /** Instances that hold the lock. */
      agreeing: number;
      /** The holder most of them recorded; undefined when none recorded one. */
      holder: RecordedHolder | undefined;
      /** The highest counter among the instances that recorded that holder. */
      fencingToken: bigint | undefined;
      /** How long at least a majority still holds it (Infinity: keys without expiry). */
      remainingMs: number;
      tickets: number;
    }
  | { kind: "free"; answered: number; agreeing: number; tickets: number }
  /** Fewer than a majority answered. */
  | { kind: "unavailable"; answered: number }
  /** A majority answered, but no majority of all instances says held, nor free. */
  | { kind: "split"; answered: number; holding: number; free: number };

/**
 * Judges the instances' readings of one lock. It is held when a majority
 * of all instances holds a key for it, free when a majority has none; the
 * holder is the one most holding instances recorded (the newest on a tie).
 * Counts that instances may disagree on (TTL left, tickets) are the
 * largest that at least a majority reports.
 */
export function judgeLockView(reads: readonly (LockRead | undefined)[], quorum: number): LockView {
  const answers = reads.filter((read): read is LockRead => read !== undefined);
  if (answers.length < quorum) return { kind: "unavailable", answered: answers.length };
  const holding = answers.filter((read) => read.ttlMs !== -2);
  const free = answers.length - holding.length;
  const tickets = atLeastQuorum(
    answers.map((read) => read.tickets),
    quorum,
  );
  if (free >= quorum) return { kind: "free", answered: answers.length, agreeing: free, tickets };
  if (holding.length < quorum) return { kind: "split", answered: answers.length, holding: holding.length, free };
  const group = holderGroup(holding);
  return {
    kind: "held",
    answered: answers.length,
    agreeing: holding.length,
    holder: group[0]?.holder,
    fencingToken: highestFence(group.length > 0 ? group : holding),
    remainingMs: atLeastQuorum(
      holding.map((read) => (read.ttlMs < 0 ? Number.POSITIVE_INFINITY : read.ttlMs)),
      quorum,
    ),
    tickets,
  };
}

/** The largest value that at least `quorum` of `values` reach (values.length >= quorum). */
function atLeastQuorum(values: number[], quorum: number): number {
  return values.sort((a, b) => b - a)[quorum - 1] ?? 0;
}

/** The readings that recorded the holder most of them name; the newest grant wins a tie. */
function holderGroup(holding: readonly LockRead[]): LockRead[] {
  const groups = new Map<string, LockRead[]>();
  for (const read of holding) {
    if (!read.holder) continue;
    const key = `${read.holder.sinceMs} ${read.holder.owner}`;
    groups.set(key, [...(groups.get(key) ?? []), read]);
  }
  let best: LockRead[] = [];
  for (const group of groups.values()) {
    const larger = group.length > best.length;
    const newer = group.length === best.length && group[0]!.holder!.sinceMs > (best[0]?.holder?.sinceMs ?? -1);
    if (larger || newer) best = group;
  }
  return best;
}

function highestFence(reads: readonly LockRead[]): bigint | undefined {
  let highest: bigint | undefined;
  for (const { fence } of reads) if (fence !== undefined && (highest === undefined || fence > highest)) highest = fence;
  return highest;
}
