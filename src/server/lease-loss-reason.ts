import { LockError } from "../errors/lock-error.ts";

/** Why a KeepAlive stream ended with its lease given up for lost. */
export type LeaseLossReason =
  /** The instances no longer hold it: expired, released or taken over. */
  | "not_held"
  /** No majority confirmed a renewal before its validity ended. */
  | "unconfirmed"
  /** The first renewal of a lease this sidecar did not grant found no majority. */
  | "unavailable"
  /** Anything else (a bug). */
  | "error";

export const LEASE_LOSS_REASONS: readonly LeaseLossReason[] = ["not_held", "unconfirmed", "unavailable", "error"];

/** Classifies the error a KeepAlive renewal loop ended with. */
export function leaseLossReason(error: unknown): LeaseLossReason {
  if (!(error instanceof LockError)) return "error";
  if (error.code === "unavailable") return "unavailable";
  if (error.code !== "not-held") return "error";
  // keepAlive wraps the last unconfirmed renewal's error as the cause.
  return error.cause instanceof LockError && error.cause.code === "unavailable" ? "unconfirmed" : "not_held";
}
