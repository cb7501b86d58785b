import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { KeepAliveManyRequest, KeepAliveManyResponse, KeepLease, StopLease } from "../../gen/lock/v1/lock_pb.ts";
import type { Lease } from "../engine/lease.ts";
import type { LeaseId } from "../engine/lease-id.ts";
import type { LeaseLostError } from "../engine/lease-session.ts";
import type { LeaseSessions } from "../engine/lease-sessions.ts";
import { toGrpcStatus } from "../errors/grpc-status.ts";
import { invalidArgument, LockError } from "../errors/lock-error.ts";
import { CallEndProbe, type CallEnd } from "./call-end.ts";
import { KeptManyLease, type ManyStream } from "./kept-many-lease.ts";
import type { LockServiceContext } from "./lock-service.ts";
import { inItem, ManyReplies } from "./many-replies.ts";
import { checkLeaseId, checkName, checkTtlMs } from "./request-validation.ts";
import { endOutcome } from "./stream-outcome.ts";
import { unreadableError } from "./unreadable-request.ts";

export type ManyDuplex = ServerDuplexStream<KeepAliveManyRequest, KeepAliveManyResponse>;

/** What a stream needs of the service's KeepAliveMany streams. */
export interface ManyHost {
  readonly ctx: LockServiceContext;
  readonly sessions: LeaseSessions;
  /** The stream is done: shutdown no longer waits for it. */
  finished(kept: KeptMany): void;
}

/**
 * One KeepAliveMany stream: a map of its leases, each joined to its lease's
 * session as a KeepAlive stream would be, and the replies gathered into
 * few messages. A loss or a refusal answers for its lease alone; the
 * stream's end decides for every lease still on it (docs/design.md, "A
 * lease's told end"). A half-close only means no more items: the leases are
 * kept until the call ends, and it ends OK once none is left.
 */
export class KeptMany implements ManyStream {
  readonly done: Promise<void>;
  readonly #streams: ManyHost;
  readonly #stream: ManyDuplex;
  readonly #probe: CallEndProbe;
  readonly #replies: ManyReplies;
  readonly #leases = new Map<string, KeptManyLease>();
  /** Stops being carried out; the end waits for them. */
  readonly #stopping = new Set<Promise<void>>();
  #halfClosed = false;
  #ended = false;
  #resolveDone!: () => void;

  constructor(streams: ManyHost, stream: ManyDuplex) {
    this.#streams = streams;
    this.#stream = stream;
    const deadline = stream.getDeadline();
    this.#probe = new CallEndProbe(stream, deadline instanceof Date ? deadline.getTime() : deadline);
    this.#replies = new ManyReplies(this.#write, streams.ctx.engine.clock);
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  start(): void {
    if (this.#streams.ctx.shutdown.aborted) {
      this.end("shutdown");
      return;
    }
    // grpc-js says "cancelled" for the client's cancel, a dead connection and the
    // deadline alike; the probe tells them apart.
    this.#stream.once("cancelled", this.#onCancelled);
    this.#stream.once("end", this.#onHalfClose);
    this.#stream.on("data", this.#onItem);
  }

  readonly #onItem = (request: KeepAliveManyRequest): void => {
    if (this.#ended) return;
    const unreadable = unreadableError(request);
    if (unreadable) this.#replies.refused("", "", unreadable);
    else if (request.item.case === "keep") this.#keep(request.item.value);
    else if (request.item.case === "stop") this.#stop(request.item.value);
    else this.#replies.refused("", "", invalidArgument("item", "set keep or stop"));
  };

  #keep(keep: KeepLease): void {
    const { ctx, sessions } = this.#streams;
    let name: string;
    let lease: LeaseId;
    let ttlMs: number;
    try {
      name = checkName(keep.name, ctx.limits);
      lease = checkLeaseId(keep.leaseId);
      ttlMs = checkTtlMs(keep.ttl, ctx.limits);
    } catch (error) {
      this.#replies.refused(keep.name, keep.leaseId, inItem("keep", error));
      return;
    }
    const key = leaseKey(name, lease);
    if (this.#leases.has(key)) {
      const message = `lock ${JSON.stringify(name)}: this lease is already on this stream; its first keep stands`;
      this.#refuse(keep, new LockError("invalid-argument", `keep.lease_id: ${message}`, alreadyKept));
      return;
    }
    // A lease granted here (or kept here already) was admitted when it was taken: only
    // leases new to this sidecar are refused, never one the stream keeps already.
    if (!sessions.holds(name, lease)) {
      try {
        const refused = ctx.overload?.refusal();
        if (refused) throw refused;
        ctx.engine.checkRoom();
      } catch (error) {
        this.#refuse(keep, error);
        return;
      }
    }
    const kept = new KeptManyLease(this, name, lease.text, key, keep.expireOnClose);
    this.#leases.set(key, kept);
    this.#replies.narrow(ttlMs);
    kept.keeper = sessions.keep(name, lease, ttlMs, kept);
  }

  #stop(stop: StopLease): void {
    let key: string;
    try {
      key = leaseKey(checkName(stop.name, this.#streams.ctx.limits), checkLeaseId(stop.leaseId));
    } catch (error) {
      this.#replies.refused(stop.name, stop.leaseId, inItem("stop", error));
      return;
    }
    const kept = this.#leases.get(key);
    if (!kept || kept.stopping) {
      const what = kept ? "is being stopped already" : "is not on this stream";
      const message = `stop.lease_id: lock ${JSON.stringify(stop.name)}: this lease ${what}`;
      this.#replies.refused(stop.name, stop.leaseId, new LockError("invalid-argument", message, notKept));
      return;
    }
    kept.stopping = true;
    const stopping = (kept.keeper?.close(stop.release ? "release" : "run-out") ?? Promise.resolve()).then(() => {
      this.#stopping.delete(stopping);
      // Lost meanwhile: that was said instead.
      if (this.#leases.get(key) !== kept) return;
      this.#leases.delete(key);
      if (this.#ended) return;
      this.#replies.stopped(kept.name, kept.leaseId, stop.release);
      this.#settle();
    });
    this.#stopping.add(stopping);
  }

  #refuse(keep: KeepLease, error: unknown): void {
    this.#replies.refused(keep.name, keep.leaseId, error);
  }

  renewed(kept: KeptManyLease, lease: Lease): void {
    if (this.#ended) return;
    this.#streams.ctx.observer?.renewed();
    this.#replies.renewed(kept, lease);
  }

  known(kept: KeptManyLease, lease: Lease): void {
    if (!this.#ended) this.#replies.renewed(kept, lease);
  }

  lost(kept: KeptManyLease, loss: LeaseLostError): void {
    if (this.#ended || this.#leases.get(kept.key) !== kept) return;
    this.#leases.delete(kept.key);
    const { ctx } = this.#streams;
    ctx.observer?.leaseLost(loss.lossReason);
    // Messages name the lock, never the lease id: it is the proof of ownership.
    ctx.logger.warn(
      { lock: kept.name, reason: loss.lossReason, detail: loss.message },
      "lease lost: off its KeepAliveMany stream",
    );
    this.#replies.lost(kept.name, kept.leaseId, loss);
    this.#settle();
  }

  readonly #onHalfClose = (): void => {
    this.#halfClosed = true;
    this.#settle();
  };

  /** Half-closed with no lease left: nothing more can happen, the call ends OK. */
  #settle(): void {
    if (!this.#halfClosed || this.#leases.size > 0 || this.#ended) return;
    this.#ended = true;
    this.#streams.ctx.observer?.streamEnded("keep_alive_many", "closed");
    this.#replies.close();
    this.#stream.end();
    this.#finish();
  }

  readonly #onCancelled = (): void => {
    this.end(this.#probe.how(undefined, this.#streams.ctx.shutdown));
  };

  /** The call ended (`how`): every lease still on it is released on its owner's own cancel, else left to run out. */
  end(how: CallEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#streams.ctx.observer?.streamEnded("keep_alive_many", endOutcome(how));
    this.#replies.close();
    const closing: Promise<void>[] = [...this.#stopping];
    for (const kept of this.#leases.values()) {
      if (kept.stopping || !kept.keeper) continue;
      closing.push(kept.keeper.close(how === "owner-cancelled" && !kept.expireOnClose ? "release" : "run-out"));
    }
    this.#leases.clear();
    void Promise.all(closing).then(() => {
      if (how === "shutdown") {
        const going = new LockError(
          "shutting-down",
          "the sidecar is shutting down: the leases on this stream are no longer renewed and each runs out " +
            "at the last expires_at sent for it",
        );
        this.#stream.emit("error", toGrpcStatus(going));
      } else if (!this.#stream.cancelled) {
        this.#stream.end();
      }
      this.#finish();
    });
  }

  readonly #write = (message: KeepAliveManyResponse): void => {
    if (!this.#stream.cancelled && !this.#stream.destroyed) this.#stream.write(message);
  };

  #finish(): void {
    this.#stream.off("data", this.#onItem);
    this.#resolveDone();
    this.#streams.finished(this);
  }
}

const alreadyKept = { field: "keep.lease_id", reason: "LEASE_ALREADY_KEPT" } as const;
const notKept = { field: "stop.lease_id", reason: "LEASE_NOT_KEPT" } as const;

/** As the lease's session is keyed: a copy of the id with an altered token part is the same lease. */
function leaseKey(name: string, lease: LeaseId): string {
  return `${name}\u0000${lease.secret}`;
}
