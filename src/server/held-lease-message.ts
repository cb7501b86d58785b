import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { HeldLeaseSchema, type HeldLease } from "../../gen/lock/v1/lock_pb.ts";
import type { Lease } from "../engine/lease.ts";
import { monotonicToWallMs, type Clock } from "../util/clock.ts";

/** A lease this sidecar holds, as ListLeases shows it: everything but its lease id. */
export function toHeldLease(lease: Lease, clock: Clock, keptAlive: boolean): HeldLease {
  return create(HeldLeaseSchema, {
    name: lease.name,
    owner: lease.owner ?? "",
    fencingToken: lease.fencingToken,
    expiresAt: timestampFromMs(Math.floor(monotonicToWallMs(clock, lease.endMs))),
    ttl: durationFromMs(lease.ttlMs),
    keptAlive,
    ...(lease.acquiredAtWallMs === undefined ? {} : { acquiredAt: timestampFromMs(lease.acquiredAtWallMs) }),
  });
}
