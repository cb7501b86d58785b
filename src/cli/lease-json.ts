import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { Lease } from "../../gen/lock/v1/lock_pb.ts";

/** The lease as lockctl prints it: one JSON object, the fencing token as a string (it is a uint64). */
export interface LeaseJson {
  name: string;
  leaseId: string;
  fencingToken: string;
  /** ISO 8601, UTC; the conservative end of validity. */
  expiresAt: string | null;
  ttlMs: number | null;
}

export function leaseJson(lease: Lease): LeaseJson {
  return {
    name: lease.name,
    leaseId: lease.leaseId,
    fencingToken: lease.fencingToken.toString(),
    expiresAt: lease.expiresAt ? new Date(timestampMs(lease.expiresAt)).toISOString() : null,
    ttlMs: lease.ttl ? durationMs(lease.ttl) : null,
  };
}
