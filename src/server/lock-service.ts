import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { handleServerStreamingCall, handleUnaryCall, ServerUnaryCall } from "@grpc/grpc-js";
import {
  AcquireResponseSchema,
  ExtendResponseSchema,
  ReleaseResponseSchema,
  type AcquireRequest,
  type AcquireResponse,
  type DescribeRequest,
  type DescribeResponse,
  type ExtendRequest,
  type ExtendResponse,
  type HoldRequest,
  type HoldResponse,
  type KeepAliveRequest,
  type KeepAliveResponse,
  type ListLeasesRequest,
  type ListLeasesResponse,
  type ReleaseRequest,
  type ReleaseResponse,
  type LockService,
} from "../../gen/lock/v1/lock_pb.ts";
import type { ServiceHandlers } from "./grpc-service-definition.ts";
import { overloadNotOutage } from "./overload-or-outage.ts";
import { streamLimitRefusal } from "./stream-limit.ts";
import type { AcquireResult } from "../engine/lease.ts";
import type { LeaseId } from "../engine/lease-id.ts";
import type { LeaseSessions } from "../engine/lease-sessions.ts";
import { RequestIds } from "../engine/request-ids.ts";
import { waitWithinDeadline } from "../engine/wait-budget.ts";
import type { LockEngine } from "../engine/lock-engine.ts";
import { INTERNAL, toGrpcStatus } from "../errors/grpc-status.ts";
import { LockError } from "../errors/lock-error.ts";
import type { Logger } from "../log/logger.ts";
import { errorOutcome, type CallOutcome, type Rpc } from "../observe/call-outcome.ts";
import { callSignal, type CallSignal } from "./call-signal.ts";
import { holdHandler } from "./hold.ts";
import { describeLock, listLeases } from "./inspection.ts";
import { KeptManyStreams } from "./kept-many-streams.ts";
import { KeptStreams } from "./kept-stream.ts";
import { refuseStream } from "./stream-outcome.ts";
import { toLeaseMessage } from "./lease-message.ts";
import type { LockServiceObserver } from "../observe/lock-service-observer.ts";
import type { OverloadGuard } from "../engine/overload-guard.ts";
import {
  checkLeaseId,
  checkName,
  checkOwner,
  checkRequestId,
  checkTtlMs,
  checkWaitMs,
  type Limits,
} from "./request-validation.ts";

export interface LockServiceContext {
  engine: LockEngine;
  limits: Limits;
  instanceTimeoutMs: number;
  retryDelayMs: number;
  /** Aborts (with a shutting-down LockError) when the sidecar stops. */
  shutdown: AbortSignal;
  logger: Logger;
  /** KeepAlive handlers still running, so shutdown can wait for their releases. */
  streams: Set<Promise<void>>;
  /** Most KeepAlive streams open at once. */
  maxStreams: number;
  /** Told about every call's outcome and every renewal and lost lease (metrics). */
  observer?: LockServiceObserver;
  /** The leases kept alive here, one session each. */
  sessions: LeaseSessions;
  /** Refuses new work while renewals or the event loop run late. */
  overload?: OverloadGuard;
}

/** How a unary RPC is reported: its name, and the outcome of a successful answer. */
interface RpcReport<Req, Res> {
  rpc: Rpc;
  outcome(response: Res): CallOutcome;
  /** Whether the request asked to wait (Acquire only). */
  waits?(request: Req): boolean;
}

/** lock.v1.LockService over the engine: validation in, messages out, errors mapped once. */
export function lockServiceImplementation(ctx: LockServiceContext): ServiceHandlers<typeof LockService> {
  const { engine, limits } = ctx;
  const clock = engine.clock;
  const requestIds = new RequestIds(engine.leases, engine.clock);

  const acquireReport: RpcReport<AcquireRequest, AcquireResponse> = {
    rpc: "acquire",
    outcome: (res) => (res.acquired ? "acquired" : "contended"),
    waits: (req) => req.wait !== undefined && (req.wait.seconds > 0n || req.wait.nanos > 0),
  };
  const acquire = unary<AcquireRequest, AcquireResponse>(ctx, acquireReport, async (req, call) => {
    // A retry answered from memory adds no lease: never refused for load.
    const refused = requestIds.remembers(req.name, req.requestId) ? undefined : ctx.overload?.refusal();
    if (refused) throw refused;
    const name = checkName(req.name, limits);
    const ttlMs = checkTtlMs(req.ttl, limits);
    const owner = checkOwner(req.owner);
    const requestId = checkRequestId(req.requestId);
    const waitMs = waitWithinDeadline(checkWaitMs(req.wait, limits), call.remainingMs(), ctx.instanceTimeoutMs);
    const attempt = (): Promise<AcquireResult> => engine.acquire(name, ttlMs, waitMs, call.signal, owner);
    const result = await overloadNotOutage(ctx.overload, () =>
      requestId === "" ? attempt() : requestIds.acquire(name, requestId, attempt),
    );
    if (!result.acquired) {
      return create(AcquireResponseSchema, {
        acquired: false,
        ...(result.retryAfterMs === undefined
          ? {}
          : { retryAfter: durationFromMs(Math.max(0, Math.ceil(result.retryAfterMs))) }),
      });
    }
    return create(AcquireResponseSchema, { acquired: true, lease: toLeaseMessage(result.lease, clock) });
  });

  const extend = unary<ExtendRequest, ExtendResponse>(
    ctx,
    { rpc: "extend", outcome: () => "extended" },
    async (req, call) => {
      const lease = await engine.extend(
        checkName(req.name, limits),
        checkLeaseId(req.leaseId),
        checkTtlMs(req.ttl, limits),
        call.signal,
      );
      return create(ExtendResponseSchema, { lease: toLeaseMessage(lease, clock) });
    },
  );

  const releaseReport: RpcReport<ReleaseRequest, ReleaseResponse> = {
    rpc: "release",
    outcome: (res) => (res.released ? "released" : "not_released"),
  };
  const release = unary<ReleaseRequest, ReleaseResponse>(ctx, releaseReport, async (req) => {
    const name = checkName(req.name, limits);
    const lease = checkLeaseId(req.leaseId);
    // Not tied to the call's signal: a release the client gave up on should still happen.
    const released = await engine.release(name, lease);
    // A majority answered: a stream keeping this lease renews it no more, nor
    // releases it again when it ends. After an outage (UNAVAILABLE) it does
    // both, so the owner's cancel still tries the release again.
    ctx.sessions.releasedByOwner(name, lease, released);
    return create(ReleaseResponseSchema, { released });
  });

  const { sessions } = ctx;
  const kept = new KeptStreams(ctx, sessions);
  const keepAliveHandler: handleServerStreamingCall<KeepAliveRequest, KeepAliveResponse> = (stream) => {
    const limit = streamLimitRefusal(ctx.streams.size, ctx.maxStreams, "KeepAlive");
    if (limit) {
      refuseStream(ctx.observer, "keep_alive", stream, limit);
      return;
    }
    const req = stream.request;
    let name: string;
    let lease: LeaseId;
    let ttlMs: number;
    try {
      name = checkName(req.name, limits);
      lease = checkLeaseId(req.leaseId);
      ttlMs = checkTtlMs(req.ttl, limits);
    } catch (error) {
      refuseStream(ctx.observer, "keep_alive", stream, error);
      return;
    }
    // A lease granted here (or kept here already) was admitted when it was taken: only
    // leases new to this sidecar are refused, for load or for LOCK_MAX_LEASES.
    const refused = sessions.holds(name, lease) ? undefined : (ctx.overload?.refusal() ?? roomError(engine));
    if (refused) {
      refuseStream(ctx.observer, "keep_alive", stream, refused);
      return;
    }
    kept.keep(stream, name, lease, ttlMs);
  };

  const hold = holdHandler(ctx, sessions, requestIds);
  const admittedHold: handleServerStreamingCall<HoldRequest, HoldResponse> = (stream) => {
    const { name, requestId } = stream.request;
    const refused = requestIds.remembers(name, requestId) ? undefined : ctx.overload?.refusal();
    if (refused) refuseStream(ctx.observer, "hold", stream, refused);
    else hold(stream);
  };

  const keepAliveMany = new KeptManyStreams(ctx, sessions).handler;

  // Read-only: not refused under overload, when someone most needs to see who holds what.
  const describe = unary<DescribeRequest, DescribeResponse>(
    ctx,
    { rpc: "describe", outcome: (res) => (res.held ? "held" : "free") },
    (req) => describeLock(ctx, req),
  );
  const listLeasesHandler = unary<ListLeasesRequest, ListLeasesResponse>(
    ctx,
    { rpc: "list_leases", outcome: () => "listed" },
    async (req) => listLeases(ctx, req),
  );

  return {
    acquire,
    extend,
    release,
    keepAlive: keepAliveHandler,
    hold: admittedHold,
    keepAliveMany,
    describe,
    listLeases: listLeasesHandler,
  };
}

function unary<Req, Res>(
  ctx: LockServiceContext,
  report: RpcReport<Req, Res>,
  handler: (request: Req, call: CallSignal) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  const clock = ctx.engine.clock;
  const { observer } = ctx;
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const startMs = clock.monotonicMs();
    const signal = callSignal(call, ctx.shutdown);
    handler(call.request, signal)
      .then(
        (response) => {
          observer?.callEnded(
            report.rpc,
            report.outcome(response),
            clock.monotonicMs() - startMs,
            report.waits?.(call.request) === true,
          );
          callback(null, response);
        },
        (error: unknown) => {
          observer?.callEnded(
            report.rpc,
            errorOutcome(error),
            clock.monotonicMs() - startMs,
            report.waits?.(call.request) === true,
          );
          const status = toGrpcStatus(error);
          if (status.code === INTERNAL) ctx.logger.error({ err: error, path: call.getPath() }, "internal error");
          callback(status);
        },
      )
      .finally(signal.cleanup);
  };
}

/** The LOCK_MAX_LEASES refusal for a lease new to this sidecar, if it is full. */
function roomError(engine: LockEngine): LockError | undefined {
  try {
    engine.checkRoom();
    return undefined;
  } catch (error) {
    if (error instanceof LockError) return error;
    throw error;
  }
}
