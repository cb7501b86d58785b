import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { DescribeResponseSchema, type DescribeResponse } from "../../gen/lock/v1/lock_pb.ts";
import type { LockDescription } from "../engine/describe-step.ts";

/** The engine's description of a lock as the API shows it; the holder's fields stay unset when unknown. */
export function toDescribeResponse(d: LockDescription): DescribeResponse {
  return create(DescribeResponseSchema, {
    held: d.held,
    owner: d.owner,
    fencingToken: d.fencingToken ?? 0n,
    ...(d.heldSinceWallMs === undefined ? {} : { heldSince: timestampFromMs(d.heldSinceWallMs) }),
    // Rounded down: the lock is held at least that long.
    ...(d.remainingMs === undefined ? {} : { remainingTtl: durationFromMs(Math.floor(d.remainingMs)) }),
    waitingTickets: d.waitingTickets,
    waitingHere: d.waitingHere,
    instancesTotal: d.instances,
    instancesAnswered: d.answered,
    instancesAgreeing: d.agreeing,
  });
}
