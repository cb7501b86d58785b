import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { Lease as LeaseMessage } from "../../gen/lock/v1/lock_pb.ts";
import { LeaseLostError, type LeaseLossReason } from "./errors.ts";

/** setTimeout fires at once beyond this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A lease a LeaseKeeper keeps alive over its shared stream. `signal`
 * aborts, with a LeaseLostError, when the lease is lost: the sidecar
 * reported it lost, the stream ended without the owner asking, or its last
 * expiresAt passed without a renewal. The lease id is never printed or
 * serialized.
 */
export class KeptLease {
  readonly name: string;
  /** Pass it to the resource you protect, which should refuse tokens lower than the highest it has seen. */
  readonly fencingToken: bigint;
  /** Aborts when the lease is lost; its reason is a LeaseLostError. */
  readonly signal: AbortSignal;
  readonly #leaseId: string;
  readonly #lost = new AbortController();
  #expiresAtMs: number;
  #ttlMs: number | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;

  constructor(first: LeaseMessage) {
    this.name = first.name;
    this.fencingToken = first.fencingToken;
    this.signal = this.#lost.signal;
    this.#leaseId = first.leaseId;
    this.#expiresAtMs = Number.NEGATIVE_INFINITY;
    this.renewed(first);
  }

  /** The conservative end of validity as last reported: stop the protected work before it unless renewed. */
  get expiresAt(): Date {
    return new Date(this.#expiresAtMs);
  }

  /** The TTL of the last renewal, in milliseconds. */
  get ttlMs(): number | undefined {
    return this.#ttlMs;
  }

  /** The proof of ownership. Keep it secret. */
  get leaseId(): string {
    return this.#leaseId;
  }

  /** What JSON.stringify shows: never the lease id. */
  toJSON(): { name: string; fencingToken: string; expiresAt: string } {
    return { name: this.name, fencingToken: this.fencingToken.toString(), expiresAt: this.expiresAt.toISOString() };
  }

  /** The keeper read a renewal. A renewal never shortens a lease: the later end is kept. */
  renewed(lease: LeaseMessage): void {
    if (lease.expiresAt) this.#expiresAtMs = Math.max(this.#expiresAtMs, timestampMs(lease.expiresAt));
    if (lease.ttl) this.#ttlMs = durationMs(lease.ttl);
    if (!this.signal.aborted) this.#armExpiry();
  }

  /** The keeper stopped keeping it, as its owner asked: no loss to report. */
  stopped(): void {
    clearTimeout(this.#expiryTimer);
  }

  lose(reason: LeaseLossReason, message: string, options: { cause?: unknown; grpcCode?: number } = {}): void {
    if (this.signal.aborted) return;
    clearTimeout(this.#expiryTimer);
    this.#lost.abort(new LeaseLostError(this.name, reason, message, options));
  }

  /** The stream may stall without ending (a partition): past expiresAt the lease cannot be counted on. */
  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    const leftMs = this.#expiresAtMs - Date.now();
    if (leftMs <= 0) {
      this.lose("expired", `no renewal arrived before its expiresAt ${this.expiresAt.toISOString()}`);
      return;
    }
    this.#expiryTimer = setTimeout(() => this.#armExpiry(), Math.min(leftMs, MAX_TIMER_MS));
    // The keeper's call keeps the process alive while it matters; this timer need not.
    this.#expiryTimer.unref();
  }
}
