import { at, describeGrant, faultsAround } from "./history-text.ts";
import type { FrozenOwnerRecord, GrantRecord, History } from "./history.ts";

/**
 * The checker's invariant (f), told-end (docs/design.md, "A lease's told
 * end"): once a frozen owner read "held until E", its lock goes to no one
 * else before E unless the owner gave the lease up itself. A connection the
 * sidecar dropped because the frozen owner did not answer its pings is not
 * the owner giving it up. Pure: no I/O, no clock.
 */

/** Until when a frozen owner's lock is its own: its told end, or earlier if it gave the lease up itself. */
export function ownedUntil(record: FrozenOwnerRecord): number {
  return Math.min(record.toldUntil, record.askedAt ?? Number.POSITIVE_INFINITY);
}

/** Grants of the frozen owner's lock to anyone else that arrived after the owner's own grant, earliest first. */
export function laterGrants(history: History, record: FrozenOwnerRecord): GrantRecord[] {
  const own = history.grants.find((g) => g.id === record.grantId);
  if (!own) return [];
  return history.grants
    .filter((g) => g.name === own.name && g.id !== own.id && g.receivedAt > own.receivedAt)
    .sort((a, b) => a.receivedAt - b.receivedAt);
}

/**
 * A grant that arrived before the owner's told end (less the tolerance)
 * certainly happened before it: a violation, whatever the owner did after
 * it thawed. The exclusion check does not see all of these: it counts a
 * renewal only if it arrived before the owner's previous end, and a thawed
 * owner reads its buffered renewals late.
 */
export function checkToldEnd(
  history: History,
  o: { toldEndToleranceMs: number },
): { invariant: "told-end"; message: string }[] {
  const violations: { invariant: "told-end"; message: string }[] = [];
  for (const record of history.frozenOwners) {
    const own = history.grants.find((g) => g.id === record.grantId);
    if (!own) continue;
    const until = ownedUntil(record);
    for (const other of laterGrants(history, record)) {
      if (other.receivedAt >= until - o.toldEndToleranceMs) break;
      const ended =
        record.endCode === undefined
          ? "its stream still open"
          : `its stream ended with status ${record.endCode} at ${at(record.endedAt ?? record.thawedAt, history)}`;
      violations.push({
        invariant: "told-end",
        message:
          `lock ${JSON.stringify(own.name)}: ${describeGrant(own, history)} was told it held the lock until ${at(record.toldUntil, history)} ` +
          `(frozen ${at(record.frozenAt, history)}..${at(record.thawedAt, history)}, ${ended}${record.askedAt === undefined ? "" : `, gave it up at ${at(record.askedAt, history)}`}), ` +
          `but ${describeGrant(other, history)} had it ${(until - other.receivedAt).toFixed(1)} ms before` +
          faultsAround(history, record.frozenAt, other.receivedAt),
      });
    }
  }
  return violations;
}
