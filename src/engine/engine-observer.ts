import type { LeaseEnd } from "./lease-registry.ts";

/** What became of a release that tried to hand the lock to a waiter of this sidecar. */
export type HandoverOutcome = "granted" | "not_granted";

export const HANDOVER_OUTCOMES: readonly HandoverOutcome[] = ["granted", "not_granted"];

/**
 * What the engine reports as it works (implemented by the metrics; optional,
 * so the engine depends on no metrics library). Calls are synchronous and
 * must be cheap.
 */
export interface EngineObserver {
  /**
   * A release ran the handover script for a waiting head: `granted` when the
   * lock passed to it, `not_granted` when an older ticket of another sidecar
   * went first (or the grant fell short and was rolled back).
   */
  handover(outcome: HandoverOutcome): void;
  /**
   * A lease this sidecar granted stopped being held: released, expired (its
   * end passed unrenewed here) or lost, after `heldMs` from its grant.
   */
  leaseEnded(heldMs: number, end: LeaseEnd): void;
}
