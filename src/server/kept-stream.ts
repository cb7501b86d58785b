import { create } from "@bufbuild/protobuf";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { KeepAliveResponseSchema, type KeepAliveRequest, type KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import type { Lease } from "../engine/lease.ts";
import type { LeaseId } from "../engine/lease-id.ts";
import type { LeaseLostError, Keeper, KeeperEvents } from "../engine/lease-session.ts";
import { toGrpcStatus } from "../errors/grpc-status.ts";
import { LockError } from "../errors/lock-error.ts";
import { CallEndProbe, type CallEnd } from "./call-end.ts";
import { toLeaseMessage } from "./lease-message.ts";
import { OpenStreams } from "./open-streams.ts";
import { endOutcome } from "./stream-outcome.ts";

type KeepAliveStream = ServerWritableStream<KeepAliveRequest, KeepAliveResponse>;

/** The KeepAlive streams of one service. */
export class KeptStreams extends OpenStreams<KeptStream> {
  /** Adapts a KeepAlive stream whose request was checked to the lease's session. */
  keep(stream: KeepAliveStream, name: string, lease: LeaseId, ttlMs: number): void {
    const kept = new KeptStream(this, stream, name);
    this.opened(kept);
    kept.start(lease, ttlMs);
  }
}

/**
 * One KeepAlive stream over its lease's session: each renewal becomes a
 * message; a loss ends the stream with its status; and how the stream ended
 * decides whether the lease is released (its owner cancelled) or left to
 * run out at the last end it was told (anything else, see docs/design.md).
 * One object and one listener per stream: at tens of thousands of streams
 * every closure counts.
 */
class KeptStream implements KeeperEvents {
  readonly done: Promise<void>;
  readonly #streams: KeptStreams;
  readonly #stream: KeepAliveStream;
  readonly #name: string;
  readonly #probe: CallEndProbe;
  #keeper: Keeper | undefined;
  #ended = false;
  #resolveDone!: () => void;

  constructor(streams: KeptStreams, stream: KeepAliveStream, name: string) {
    this.#streams = streams;
    this.#stream = stream;
    this.#name = name;
    const deadline = stream.getDeadline();
    this.#probe = new CallEndProbe(stream, deadline instanceof Date ? deadline.getTime() : deadline);
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  start(lease: LeaseId, ttlMs: number): void {
    if (this.#streams.ctx.shutdown.aborted) {
      this.end("shutdown");
      return;
    }
    // grpc-js says "cancelled" for the client's cancel, a dead connection and the
    // deadline alike; the probe tells them apart.
    this.#stream.once("cancelled", this.#onCancelled);
    this.#keeper = this.#streams.sessions.keep(this.#name, lease, ttlMs, this);
  }

  renewed(lease: Lease): void {
    this.#streams.ctx.observer?.renewed();
    this.known(lease);
  }

  known(lease: Lease): void {
    this.#stream.write(
      create(KeepAliveResponseSchema, { lease: toLeaseMessage(lease, this.#streams.ctx.engine.clock) }),
    );
  }

  lost(loss: LeaseLostError): void {
    if (this.#ended) return;
    this.#ended = true;
    const { ctx } = this.#streams;
    ctx.observer?.leaseLost(loss.lossReason);
    ctx.observer?.streamEnded("keep_alive", "lost");
    // Messages name the lock, never the lease id: it is the proof of ownership.
    ctx.logger.warn({ lock: this.#name, reason: loss.lossReason, detail: loss.message }, "lease lost: keepalive ended");
    this.#stream.emit("error", toGrpcStatus(loss));
    this.#finish();
  }

  /** Its owner released the lease through Release: the stream ends OK now, before the Release is answered. */
  released(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#streams.ctx.observer?.streamEnded("keep_alive", "released");
    this.#stream.end();
    void (this.#keeper?.close("run-out") ?? Promise.resolve()).then(() => this.#finish());
  }

  readonly #onCancelled = (): void => {
    this.end(this.#probe.how(undefined, this.#streams.ctx.shutdown));
  };

  /** The call ended (`how`): the keeper stops, releasing the lease only on its owner's own cancel. */
  end(how: CallEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#streams.ctx.observer?.streamEnded("keep_alive", endOutcome(how));
    const expireOnClose = this.#stream.request.expireOnClose;
    const closing =
      this.#keeper?.close(how === "owner-cancelled" && !expireOnClose ? "release" : "run-out") ?? Promise.resolve();
    void closing.then(() => {
      if (how === "shutdown") {
        const going = new LockError(
          "shutting-down",
          "the sidecar is shutting down: the lease is no longer renewed and runs out at the last expires_at sent",
        );
        this.#stream.emit("error", toGrpcStatus(going));
      } else {
        this.#stream.end();
      }
      this.#finish();
    });
  }

  #finish(): void {
    this.#resolveDone();
    this.#streams.finished(this);
  }
}
