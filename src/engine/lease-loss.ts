import { LockError } from "../errors/lock-error.ts";

/** Why a kept-alive lease was given up for lost. */
export type LeaseLossReason =
  /** The instances no longer hold it: expired, released or taken over. */
  | "not_held"
  /** No majority confirmed a renewal before the end last told to its owner. */
  | "unconfirmed"
  /** The first renewal of a lease this sidecar did not grant found no majority. */
  | "unavailable"
  /** Anything else (a bug). */
  | "error";

export const LEASE_LOSS_REASONS: readonly LeaseLossReason[] = ["not_held", "unconfirmed", "unavailable", "error"];

/** A kept-alive lease is lost: its keepers must stop their work. */
export class LeaseLostError extends LockError {
  readonly lossReason: LeaseLossReason;

  constructor(reason: LeaseLossReason, message: string, cause?: unknown) {
    // A lease whose renewals went unconfirmed ran out: say so to a program, not just "not held".
    super(reason === "unavailable" ? "unavailable" : "not-held", message, {
      cause,
      ...(reason === "unconfirmed" ? { reason: "LEASE_EXPIRED" as const } : {}),
    });
    this.lossReason = reason;
  }
}
