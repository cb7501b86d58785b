import { durationFromMs, durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { setTimeout as sleep } from "node:timers/promises";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { Lease as LeaseMessage } from "../../gen/lock/v1/lock_pb.ts";
import { clientError, isServiceError, LeaseLostError, LockClientError, type LeaseLossReason } from "./errors.ts";
import { durationMs as optionMs, type Duration } from "./hold-options.ts";
import type { HoldEvent } from "./hold-stream.ts";
import type { LockClient } from "./lock-client.ts";
import type { OpenedHold } from "./open-hold.ts";

/** setTimeout fires at once beyond this. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long a released hold's end is awaited before the call is cancelled anyway (an older sidecar). */
const RELEASED_END_WAIT_MS = 200;

export interface LeaseContext {
  client: LockClient;
  /** Bound on Extend and Release calls. */
  callTimeoutMs: number;
  /** Disposing lets the lease run out instead of releasing it. */
  expireOnClose: boolean;
}

/**
 * A lease kept alive by a Hold call for as long as it is not ended. `signal`
 * aborts, with a LeaseLostError, when the lease is lost: the sidecar ended
 * the hold (FAILED_PRECONDITION, or any end this side did not ask for), or
 * the last expiresAt passed without a renewal. `await using` ends the hold
 * on scope exit: the lease is released (or, with expireOnClose, left to run
 * out). The lease id, the proof of ownership, is never printed or serialized.
 */
export class Lease implements AsyncDisposable {
  readonly name: string;
  /** Pass it to the resource you protect, which should refuse tokens lower than the highest it has seen. */
  readonly fencingToken: bigint;
  /** Aborts when the lease is lost; its reason is a LeaseLostError. */
  readonly signal: AbortSignal;
  readonly #leaseId: string;
  readonly #stream: OpenedHold["stream"];
  readonly #ctx: LeaseContext;
  readonly #lost = new AbortController();
  #expiresAtMs: number;
  #ttlMs: number | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  /** Set once the owner ends the hold: ends of the call are then expected. */
  #ending: Promise<boolean> | undefined;

  constructor(opened: OpenedHold, ctx: LeaseContext) {
    const { lease, stream } = opened;
    this.name = lease.name;
    this.fencingToken = lease.fencingToken;
    this.signal = this.#lost.signal;
    this.#leaseId = lease.leaseId;
    this.#stream = stream;
    this.#ctx = ctx;
    this.#expiresAtMs = lease.expiresAt ? timestampMs(lease.expiresAt) : Date.now();
    this.#ttlMs = lease.ttl ? durationMs(lease.ttl) : undefined;
    this.#armExpiry();
    stream.listen((event) => this.#onEvent(event));
  }

  /** The conservative end of validity as last reported: stop the protected work before it unless renewed. */
  get expiresAt(): Date {
    return new Date(this.#expiresAtMs);
  }

  /** The TTL of the last grant or renewal, in milliseconds. */
  get ttlMs(): number | undefined {
    return this.#ttlMs;
  }

  /** The proof of ownership, for calls of your own (lockctl, another language). Keep it secret. */
  get leaseId(): string {
    return this.#leaseId;
  }

  /**
   * Pushes the end out to `ttl` from now (default: the sidecar's default TTL).
   * The hold goes on renewing with its own TTL; a renewal never shortens the lease.
   * Rejects with LeaseLostError when the lease is no longer held.
   */
  async extend(ttl?: Duration): Promise<void> {
    if (this.signal.aborted) throw this.signal.reason;
    if (this.#ending)
      throw new LockClientError("ended", `extend ${JSON.stringify(this.name)}: the hold was already ended`);
    const ttlField = ttl === undefined ? {} : { ttl: durationFromMs(optionMs("ttl", ttl)) };
    try {
      const { lease } = await this.#ctx.client.extend(
        { name: this.name, leaseId: this.#leaseId, ...ttlField },
        { deadline: Date.now() + this.#ctx.callTimeoutMs },
      );
      if (lease) this.#renewed(lease);
    } catch (error) {
      if (isServiceError(error) && error.code === grpcStatus.FAILED_PRECONDITION) {
        this.#lose("revoked", `extend: ${error.details}`, error);
        throw this.signal.reason;
      }
      throw clientError(`extend ${JSON.stringify(this.name)}`, error);
    }
  }

  /**
   * Gives the lease back and ends the hold. Resolves true when the sidecar
   * released it, false when it was no longer held. Calling it again gives
   * the same answer.
   */
  release(): Promise<boolean> {
    this.#ending ??= this.#end(true);
    return this.#ending;
  }

  /**
   * Ends the hold: releases the lease, or with expireOnClose lets it run out. Never
   * throws: at worst the lease runs out.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#ending ??= this.#end(!this.#ctx.expireOnClose);
    await this.#ending.catch(() => undefined);
  }

  /** What JSON.stringify shows: never the lease id. */
  toJSON(): { name: string; fencingToken: string; expiresAt: string } {
    return { name: this.name, fencingToken: this.fencingToken.toString(), expiresAt: this.expiresAt.toISOString() };
  }

  async #end(release: boolean): Promise<boolean> {
    clearTimeout(this.#expiryTimer);
    let released = false;
    try {
      if (!release) return false;
      // Release first, then cancel: the answer says whether it was still held.
      ({ released } = await this.#ctx.client.release(
        { name: this.name, leaseId: this.#leaseId },
        { deadline: Date.now() + this.#ctx.callTimeoutMs },
      ));
      return released;
    } catch (error) {
      throw clientError(`release ${JSON.stringify(this.name)}`, error);
    } finally {
      // A released hold is ended OK by the sidecar: a cancel would reset the stream, and an
      // HTTP/2 server closes a connection that resets ~1,000 streams in a burst.
      if (released) {
        const waited = new AbortController();
        const gaveUp = sleep(RELEASED_END_WAIT_MS, undefined, { signal: waited.signal }).catch(() => undefined);
        await Promise.race([this.#stream.ended, gaveUp]);
        waited.abort();
      }
      this.#stream.cancel();
      await this.#stream.ended;
    }
  }

  #onEvent(event: HoldEvent): void {
    if (event.kind === "message") {
      if (event.message.lease) this.#renewed(event.message.lease);
      return;
    }
    clearTimeout(this.#expiryTimer);
    if (this.#ending || event.cancelledHere) return;
    const { error } = event;
    if (error?.code === grpcStatus.FAILED_PRECONDITION) this.#lose("revoked", error.details, error);
    else if (!error && event.status?.code === grpcStatus.OK) {
      // The sidecar ends a granted hold OK only once a Release of its lease found it held.
      this.#lose("revoked", "the lease was released through Release by another caller; the lock is free");
    } else {
      const how = error ? `${grpcStatus[error.code] ?? error.code}: ${error.details}` : "the sidecar ended it";
      this.#lose("ended", `the hold ended (${how}); the lease runs out at ${this.expiresAt.toISOString()}`, error);
    }
  }

  #renewed(lease: LeaseMessage): void {
    // A renewal never shortens a lease: keep the later end.
    if (lease.expiresAt) this.#expiresAtMs = Math.max(this.#expiresAtMs, timestampMs(lease.expiresAt));
    if (lease.ttl) this.#ttlMs = durationMs(lease.ttl);
    if (!this.signal.aborted && !this.#ending) this.#armExpiry();
  }

  /** The stream may stall without ending (a partition): past expiresAt the lease cannot be counted on. */
  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    const leftMs = this.#expiresAtMs - Date.now();
    if (leftMs <= 0) {
      this.#lose("expired", `no renewal arrived before its expiresAt ${this.expiresAt.toISOString()}`);
      return;
    }
    this.#expiryTimer = setTimeout(() => this.#armExpiry(), Math.min(leftMs, MAX_TIMER_MS));
    // The hold's call keeps the process alive while it matters; this timer need not.
    this.#expiryTimer.unref();
  }

  #lose(reason: LeaseLossReason, message: string, cause?: unknown): void {
    if (this.signal.aborted) return;
    clearTimeout(this.#expiryTimer);
    const grpcCode = isServiceError(cause) ? { grpcCode: cause.code } : {};
    this.#lost.abort(new LeaseLostError(this.name, reason, message, { cause, ...grpcCode }));
  }
}
