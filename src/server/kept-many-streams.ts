import type { LeaseSessions } from "../engine/lease-sessions.ts";
import { toGrpcStatus } from "../errors/grpc-status.ts";
import { KeptMany, type ManyDuplex, type ManyHost } from "./kept-many.ts";
import type { LockServiceContext } from "./lock-service.ts";
import { streamLimitRefusal } from "./stream-limit.ts";

/**
 * The KeepAliveMany streams of one service, under one shutdown listener.
 * Each stream counts as one against LOCK_MAX_STREAMS, however many leases
 * it keeps; each lease new to this sidecar is admitted as KeepAlive admits
 * one, and counts against LOCK_MAX_LEASES.
 */
export class KeptManyStreams implements ManyHost {
  readonly ctx: LockServiceContext;
  readonly sessions: LeaseSessions;
  readonly #open = new Set<KeptMany>();

  constructor(ctx: LockServiceContext, sessions: LeaseSessions) {
    this.ctx = ctx;
    this.sessions = sessions;
    ctx.shutdown.addEventListener(
      "abort",
      () => {
        for (const kept of [...this.#open]) kept.end("shutdown");
      },
      { once: true },
    );
  }

  /** The lock.v1 KeepAliveMany handler. */
  readonly handler = (stream: ManyDuplex): void => {
    const { ctx } = this;
    const limit = streamLimitRefusal(ctx.streams.size, ctx.maxStreams, "KeepAlive");
    if (limit) {
      stream.emit("error", toGrpcStatus(limit));
      return;
    }
    const kept = new KeptMany(this, stream);
    this.#open.add(kept);
    ctx.streams.add(kept.done);
    kept.start();
  };

  /** A stream is done: shutdown no longer waits for it. */
  finished(kept: KeptMany): void {
    this.#open.delete(kept);
    this.ctx.streams.delete(kept.done);
  }
}
