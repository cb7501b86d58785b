import { create } from "@bufbuild/protobuf";
import {
  ListLeasesResponseSchema,
  type DescribeRequest,
  type DescribeResponse,
  type ListLeasesRequest,
  type ListLeasesResponse,
} from "../../gen/lock/v1/lock_pb.ts";
import type { LeaseSessions } from "../engine/lease-sessions.ts";
import type { LockEngine } from "../engine/lock-engine.ts";
import { toDescribeResponse } from "./describe-message.ts";
import { toHeldLease } from "./held-lease-message.ts";
import { leasePage, parsePageToken } from "./lease-pages.ts";
import { checkName, checkPageSize, type Limits } from "./request-validation.ts";

/** What the read-only calls need: they take, renew and release nothing. */
export interface InspectionContext {
  engine: LockEngine;
  limits: Limits;
  sessions: LeaseSessions;
}

/** Describe: the lock as a majority of instances sees it. Any sidecar can describe any lock. */
export async function describeLock(ctx: InspectionContext, req: DescribeRequest): Promise<DescribeResponse> {
  return toDescribeResponse(await ctx.engine.describe(checkName(req.name, ctx.limits)));
}

/** ListLeases: one page of the leases this sidecar holds now, by name, with no lease id. */
export function listLeases(ctx: InspectionContext, req: ListLeasesRequest): ListLeasesResponse {
  const pageSize = checkPageSize(req.pageSize);
  const after = parsePageToken(req.pageToken);
  const { clock, leases } = ctx.engine;
  const { page, next } = leasePage(leases.valid(clock.monotonicMs()), pageSize, after);
  return create(ListLeasesResponseSchema, {
    leases: page.map((lease) => toHeldLease(lease, clock, ctx.sessions.keeps(lease.name, lease.id))),
    nextPageToken: next,
  });
}
