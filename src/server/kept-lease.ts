import type { ServerWritableStream } from "@grpc/grpc-js";
import { LeaseLostError, type Keeper } from "../engine/lease-session.ts";
import { toGrpcStatus } from "../errors/grpc-status.ts";
import { LockError } from "../errors/lock-error.ts";
import type { CallEndProbe } from "./call-end.ts";
import type { StreamOutcome } from "../observe/call-outcome.ts";
import type { CallSignal } from "./call-signal.ts";
import type { LockServiceContext } from "./lock-service.ts";
import { endOutcome } from "./stream-outcome.ts";

/**
 * The end of a stream that keeps a lease (Hold): waits until the lease is
 * lost (the stream ends with its status), its owner released it through
 * Release (the stream ends OK) or the call ends; then how
 * it ended decides whether the lease is released (its owner cancelled) or
 * left to run out at the last end it was told (anything else, see
 * docs/design.md). Resolves with how the stream ended.
 */
export async function keepUntilEnd(
  ctx: LockServiceContext,
  stream: ServerWritableStream<unknown, unknown>,
  call: CallSignal,
  probe: CallEndProbe,
  keeper: Keeper,
  name: string,
  expireOnClose: boolean,
  released: Promise<void>,
): Promise<StreamOutcome> {
  const ended = new Promise<undefined>((resolve) => {
    if (call.signal.aborted) resolve(undefined);
    else call.signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
  const loss = await Promise.race([keeper.lost, ended, released.then(() => "released" as const)]);
  if (loss === "released") {
    // Its owner released it through Release: ended OK here, so the client need not cancel.
    stream.end();
    await keeper.close("run-out");
    return "released";
  }
  if (loss instanceof LeaseLostError) {
    ctx.observer?.leaseLost(loss.lossReason);
    // Messages name the lock, never the lease id: it is the proof of ownership.
    ctx.logger.warn({ lock: name, reason: loss.lossReason, detail: loss.message }, "lease lost: keepalive ended");
    stream.emit("error", toGrpcStatus(loss));
    return "lost";
  }
  const how = probe.how(call.signal.reason, ctx.shutdown);
  await keeper.close(how === "owner-cancelled" && !expireOnClose ? "release" : "run-out");
  if (how === "shutdown") {
    const going = new LockError(
      "shutting-down",
      "the sidecar is shutting down: the lease is no longer renewed and runs out at the last expires_at sent",
    );
    stream.emit("error", toGrpcStatus(going));
  } else {
    stream.end();
  }
  return endOutcome(how);
}
