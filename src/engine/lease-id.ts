import { invalidArgument } from "../errors/lock-error.ts";
import { LEASE_ID_PATTERN } from "../protocol/lease-id-format.ts";

/**
 * A lease id is `<secret>.<fencing token>`. The secret (random, stored as the
 * lock key's value) is the only proof of ownership; the token rides along so
 * any sidecar, even a restarted one, can report it on Extend and KeepAlive.
 * Altering the token part changes nothing but what is echoed back.
 */
export interface LeaseIdParts {
  secret: string;
  fencingToken: bigint;
}

/** A lease id checked and parsed once, at the edge; the rest of the code passes this value. */
export interface LeaseId extends LeaseIdParts {
  /** The id as the client sent it. */
  readonly text: string;
}

const MAX_UINT64 = (1n << 64n) - 1n;

export function formatLeaseId(parts: LeaseIdParts): string {
  return `${parts.secret}.${parts.fencingToken.toString()}`;
}

/** The value of a lease id made here, for a grant: no text to parse. */
export function leaseIdOf(parts: LeaseIdParts): LeaseId {
  return { text: formatLeaseId(parts), secret: parts.secret, fencingToken: parts.fencingToken };
}

export function parseLeaseId(leaseId: string): LeaseId {
  const match = LEASE_ID_PATTERN.exec(leaseId);
  const token = match ? BigInt(match[2]!) : -1n;
  if (!match || token > MAX_UINT64) {
    throw invalidArgument("lease_id", "malformed: pass the lease_id returned by Acquire unchanged");
  }
  return { text: leaseId, secret: match[1]!, fencingToken: token };
}
