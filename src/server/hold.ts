import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { handleServerStreamingCall, ServerWritableStream } from "@grpc/grpc-js";
import { HoldResponseSchema, type HoldRequest, type HoldResponse } from "../../gen/lock/v1/lock_pb.ts";
import type { AcquireResult } from "../engine/lease.ts";
import type { Keeper } from "../engine/lease-session.ts";
import type { LeaseSessions } from "../engine/lease-sessions.ts";
import type { RequestIds } from "../engine/request-ids.ts";
import { waitWithinDeadline } from "../engine/wait-budget.ts";
import { toGrpcStatus } from "../errors/grpc-status.ts";
import { errorOutcome, type StreamOutcome } from "../observe/call-outcome.ts";
import { CallEndProbe } from "./call-end.ts";
import { callSignal } from "./call-signal.ts";
import { keepUntilEnd } from "./kept-lease.ts";
import { overloadNotOutage } from "./overload-or-outage.ts";
import { streamLimitRefusal } from "./stream-limit.ts";
import { toLeaseMessage } from "./lease-message.ts";
import type { LockServiceContext } from "./lock-service.ts";
import { checkName, checkOwner, checkRequestId, checkTtlMs, checkWaitMs } from "./request-validation.ts";
import { refuseStream } from "./stream-outcome.ts";

/**
 * lock.v1 Hold: Acquire and KeepAlive in one call, with no window between
 * them. The first message says whether the lock was taken; the stream then
 * keeps the lease with KeepAlive's rules until the call ends.
 */
export function holdHandler(
  ctx: LockServiceContext,
  sessions: LeaseSessions,
  requestIds: RequestIds,
): handleServerStreamingCall<HoldRequest, HoldResponse> {
  return (stream) => {
    const limit = streamLimitRefusal(ctx.streams.size, ctx.maxStreams, "KeepAlive and Hold");
    if (limit) {
      refuseStream(ctx.observer, "hold", stream, limit);
      return;
    }
    const done = runHold(ctx, sessions, requestIds, stream).finally(() => ctx.streams.delete(done));
    ctx.streams.add(done);
  };
}

async function runHold(
  ctx: LockServiceContext,
  sessions: LeaseSessions,
  requestIds: RequestIds,
  stream: ServerWritableStream<HoldRequest, HoldResponse>,
): Promise<void> {
  const deadline = stream.getDeadline();
  const probe = new CallEndProbe(stream, deadline instanceof Date ? deadline.getTime() : deadline);
  const call = callSignal(stream, ctx.shutdown);
  const req = stream.request;
  const clock = ctx.engine.clock;
  let keeper: Keeper | undefined;
  // Set on every way out below; counted once, when the stream is done.
  let outcome: StreamOutcome = "internal";
  try {
    const name = checkName(req.name, ctx.limits);
    const ttlMs = checkTtlMs(req.ttl, ctx.limits);
    const owner = checkOwner(req.owner);
    const requestId = checkRequestId(req.requestId);
    const waitMs = waitWithinDeadline(checkWaitMs(req.wait, ctx.limits), call.remainingMs(), ctx.instanceTimeoutMs);
    const acquire = (): Promise<AcquireResult> => ctx.engine.acquire(name, ttlMs, waitMs, call.signal, owner);
    const result = await overloadNotOutage(ctx.overload, () =>
      requestId === "" ? acquire() : requestIds.acquire(name, requestId, acquire),
    );
    if (!result.acquired) {
      const retryAfter =
        result.retryAfterMs === undefined
          ? {}
          : { retryAfter: durationFromMs(Math.max(0, Math.ceil(result.retryAfterMs))) };
      stream.write(create(HoldResponseSchema, { acquired: false, ...retryAfter }));
      stream.end();
      outcome = "contended";
      return;
    }
    stream.write(create(HoldResponseSchema, { acquired: true, lease: toLeaseMessage(result.lease, clock) }));
    let onReleased!: () => void;
    const released = new Promise<void>((resolve) => (onReleased = resolve));
    keeper = sessions.keep(
      name,
      result.lease.id,
      ttlMs,
      {
        renewed: (renewed) => {
          ctx.observer?.renewed();
          stream.write(create(HoldResponseSchema, { acquired: true, lease: toLeaseMessage(renewed, clock) }));
        },
        released: () => onReleased(),
      },
      true,
    );
    outcome = await keepUntilEnd(
      ctx,
      stream as ServerWritableStream<unknown, unknown>,
      call,
      probe,
      keeper,
      name,
      req.expireOnClose,
      released,
    );
  } catch (error) {
    outcome = errorOutcome(error);
    stream.emit("error", toGrpcStatus(error));
  } finally {
    ctx.observer?.streamEnded("hold", outcome);
    // A stream that ended by surprise (a bug above) lets its lease run out: never an early release.
    void keeper?.close("run-out");
    call.cleanup();
  }
}
