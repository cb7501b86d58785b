import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { LeaseSchema, type Lease as LeaseMessage } from "../../gen/lock/v1/lock_pb.ts";
import type { Lease } from "../engine/lease.ts";
import { monotonicToWallMs, type Clock } from "../util/clock.ts";

/** A lease's end on the wall clock, rounded down: its expires_at. */
export function wallEndMs(lease: Lease, clock: Clock): number {
  return Math.floor(monotonicToWallMs(clock, lease.endMs));
}

/** The engine's lease as the API shows it; expires_at on the wall clock, rounded down, unless given. */
export function toLeaseMessage(lease: Lease, clock: Clock, expiresAtMs = wallEndMs(lease, clock)): LeaseMessage {
  return create(LeaseSchema, {
    name: lease.name,
    leaseId: lease.leaseId,
    fencingToken: lease.fencingToken,
    expiresAt: timestampFromMs(expiresAtMs),
    ttl: durationFromMs(lease.ttlMs),
  });
}
