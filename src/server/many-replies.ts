import { create } from "@bufbuild/protobuf";
import {
  KeepAliveManyResponseSchema,
  LeaseErrorSchema,
  StoppedLeaseSchema,
  type KeepAliveManyResponse,
  type LeaseError,
  type StoppedLease,
} from "../../gen/lock/v1/lock_pb.ts";
import type { Lease } from "../engine/lease.ts";
import { renewalTickMs } from "../engine/lease-session.ts";
import { grpcCode, INTERNAL } from "../errors/grpc-status.ts";
import { LockError } from "../errors/lock-error.ts";
import type { Clock } from "../util/clock.ts";
import { toLeaseMessage, wallEndMs } from "./lease-message.ts";

/** Most entries in one message: 2,000 leases is about 200 KB, far below gRPC's 4 MB default limit. */
const MAX_ENTRIES = 2000;
/** The longest a renewal waits to share a message: the longest renewal tick. */
const MAX_WINDOW_MS = 100;

/** A lease on the stream, with the last expires_at sent for it. */
export interface Told {
  toldWallMs: number;
}

/**
 * What a KeepAliveMany stream has to say, gathered into few messages.
 * Renewals wait up to one renewal tick, so those answered in one tick share
 * a message. Losses, refusals and stops go out at the next turn of the event
 * loop: a loss must reach its owner no later than the end last told.
 */
export class ManyReplies {
  readonly #write: (message: KeepAliveManyResponse) => void;
  readonly #clock: Clock;
  #renewed: Lease[] = [];
  /** Whose each renewal is, index for index. */
  #renewedOf: Told[] = [];
  #lost: LeaseError[] = [];
  #refused: LeaseError[] = [];
  #stopped: StoppedLease[] = [];
  #windowMs = MAX_WINDOW_MS;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(write: (message: KeepAliveManyResponse) => void, clock: Clock) {
    this.#write = write;
    this.#clock = clock;
  }

  /** A lease with this TTL joined: its renewals may wait no longer than its tick. */
  narrow(ttlMs: number): void {
    this.#windowMs = Math.min(this.#windowMs, renewalTickMs(ttlMs));
  }

  renewed(of: Told, lease: Lease): void {
    this.#renewed.push(lease);
    this.#renewedOf.push(of);
    if (this.#timer === undefined && this.#immediate === undefined)
      this.#timer = setTimeout(this.flush, this.#windowMs).unref();
  }

  lost(name: string, leaseId: string, error: unknown): void {
    this.#lost.push(leaseError(name, leaseId, error));
    this.#soon();
  }

  refused(name: string, leaseId: string, error: unknown): void {
    this.#refused.push(leaseError(name, leaseId, error));
    this.#soon();
  }

  stopped(name: string, leaseId: string, released: boolean): void {
    this.#stopped.push(create(StoppedLeaseSchema, { name, leaseId, released }));
    this.#soon();
  }

  /** Sends everything gathered: renewals first, so a lease is never reported lost or stopped before renewed. */
  readonly flush = (): void => {
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.#closed) return;
    while (this.#renewed.length + this.#lost.length + this.#refused.length + this.#stopped.length > 0) {
      let room = MAX_ENTRIES;
      const renewed = this.#renewed.splice(0, room);
      const renewedOf = this.#renewedOf.splice(0, renewed.length);
      room -= renewed.length;
      const lost = this.#lost.splice(0, room);
      room -= lost.length;
      const refused = this.#refused.splice(0, room);
      room -= refused.length;
      const stopped = this.#stopped.splice(0, room);
      this.#write(
        create(KeepAliveManyResponseSchema, {
          renewed: renewed.map((lease, i) => this.#leaseMessage(renewedOf[i]!, lease)),
          lost,
          refused,
          stopped,
        }),
      );
    }
  };

  /** Nothing more is sent (the call is over). */
  close(): void {
    this.flush();
    this.#closed = true;
    this.#renewed = [];
    this.#renewedOf = [];
    this.#lost = [];
    this.#refused = [];
    this.#stopped = [];
  }

  /**
   * The lease's end as sent: never earlier than one sent before. The same end
   * read twice off the wall clock can differ by a millisecond (Date.now() is
   * whole milliseconds, the monotonic clock is not), and the wall clock slews.
   */
  #leaseMessage(of: Told, lease: Lease): ReturnType<typeof toLeaseMessage> {
    of.toldWallMs = Math.max(of.toldWallMs, wallEndMs(lease, this.#clock));
    return toLeaseMessage(lease, this.#clock, of.toldWallMs);
  }

  #soon(): void {
    if (this.#immediate !== undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#immediate = setImmediate(this.flush);
  }
}

/** A failure of one lease or item, in the words (code, ErrorInfo reason, text) KeepAlive would end with. */
export function leaseError(name: string, leaseId: string, error: unknown): LeaseError {
  if (!(error instanceof LockError)) {
    // A bug: said as toGrpcStatus says it to a unary call, with no ErrorInfo and so no reason.
    return create(LeaseErrorSchema, { name, leaseId, code: INTERNAL, reason: "", message: "internal error" });
  }
  return create(LeaseErrorSchema, {
    name,
    leaseId,
    code: grpcCode(error),
    reason: error.reason,
    message: error.message,
    field: error.field ?? "",
    metadata: { ...error.metadata },
  });
}

/** A request field's error as the field of an item: `ttl` of a keep becomes `keep.ttl`. */
export function inItem(item: "keep" | "stop", error: unknown): unknown {
  if (!(error instanceof LockError) || error.field === undefined) return error;
  return new LockError(error.code, `${item}.${error.message}`, {
    field: `${item}.${error.field}`,
    reason: error.reason,
    metadata: error.metadata,
    cause: error,
  });
}
