import { KeptMany, type ManyDuplex, type ManyHost } from "./kept-many.ts";
import { OpenStreams } from "./open-streams.ts";
import { streamLimitRefusal } from "./stream-limit.ts";
import { refuseStream } from "./stream-outcome.ts";

/**
 * The KeepAliveMany streams of one service, under one shutdown listener.
 * Each stream counts as one against LOCK_MAX_STREAMS, however many leases
 * it keeps; each lease new to this sidecar is admitted as KeepAlive admits
 * one, and counts against LOCK_MAX_LEASES.
 */
export class KeptManyStreams extends OpenStreams<KeptMany> implements ManyHost {
  /** The lock.v1 KeepAliveMany handler. */
  readonly handler = (stream: ManyDuplex): void => {
    const { ctx } = this;
    const limit = streamLimitRefusal(ctx.streams.size, ctx.maxStreams, "KeepAlive");
    if (limit) {
      refuseStream(ctx.observer, "keep_alive_many", stream, limit);
      return;
    }
    const kept = new KeptMany(this, stream);
    this.opened(kept);
    kept.start();
  };
}
