import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import {
  KeepAliveManyRequestSchema,
  type KeepAliveManyRequest,
  type KeepAliveManyResponse,
  type LeaseError,
} from "../../gen/lock/v1/lock_pb.ts";
import type { LockClient } from "../../src/client/lock-client.ts";

const CANCELLED = 1;
const RESOURCE_EXHAUSTED = 8;

/** What the many-stream keeper needs of a lease (the bench's HeldLease). */
export interface ManyLease {
  name: string;
  leaseId: string;
  endMs: number;
  leftAtKeepMs?: number;
  /** Lost: never kept again. */
  gone?: boolean;
  stream?: { cancel(): void } | undefined;
  /** Renewal messages read for it, and when the last one came (ms since the epoch). */
  messages?: number;
  lastMs?: number;
}

/** What it tells the bench's counters. */
export interface ManyTally {
  renewed(lease: ManyLease, gapMs: number | undefined): void;
  /** An expires_at came earlier than the one known, by `byMs`; the later one is kept, as a real client does. */
  earlier(byMs: number): void;
  lost(lease: ManyLease, why: string): void;
  refused(lease: ManyLease, why: string): void;
  /** Not kept: its end passed before the sidecar let it in. */
  expiredUnkept(): void;
}

interface OneStream {
  call: ClientDuplexStream<KeepAliveManyRequest, KeepAliveManyResponse>;
  leases: number;
}

/**
 * The client side of KeepAliveMany in the scale bench, kept honest: the
 * leases are spread over streams of at most `perStream` each; every message
 * is read and each lease's expires_at checked (a new one earlier than the
 * one known is counted, and the later kept; a told end that passes without a
 * renewal counts as a lost lease, as a real client's own check would see it); a keep refused
 * RESOURCE_EXHAUSTED is tried again after a pause while the lease has time
 * left.
 */
export class ManyStreams {
  readonly #client: LockClient;
  readonly #ttlMs: number;
  readonly #perStream: number;
  readonly #tally: ManyTally;
  readonly #streams: OneStream[] = [];
  /** The leases kept now, by lease id, with their stream. */
  readonly #kept = new Map<string, { lease: ManyLease; on: OneStream }>();
  readonly #watch: NodeJS.Timeout;
  #closing = false;

  constructor(client: LockClient, ttlMs: number, perStream: number, tally: ManyTally) {
    this.#client = client;
    this.#ttlMs = ttlMs;
    this.#perStream = perStream;
    this.#tally = tally;
    this.#watch = setInterval(() => this.#checkEnds(), 250).unref();
  }

  get streams(): number {
    return this.#streams.length;
  }

  keep(lease: ManyLease): void {
    let on = this.#streams.at(-1);
    if (!on || on.leases >= this.#perStream) on = this.#open();
    on.leases++;
    lease.messages = 0;
    lease.stream = on.call;
    this.#kept.set(lease.leaseId, { lease, on });
    const keep = { name: lease.name, leaseId: lease.leaseId, ttl: durationFromMs(this.#ttlMs) };
    on.call.write(create(KeepAliveManyRequestSchema, { item: { case: "keep", value: keep } }));
  }

  /** Cancels every stream (the owner's cancel: every lease on them is released). */
  close(): void {
    this.#closing = true;
    clearInterval(this.#watch);
    for (const on of this.#streams) on.call.cancel();
  }

  #open(): OneStream {
    const on: OneStream = { call: this.#client.keepAliveMany(), leases: 0 };
    this.#streams.push(on);
    on.call.on("data", (message: KeepAliveManyResponse) => this.#read(message));
    on.call.on("error", (e: { code?: number; details?: string }) => {
      if (e.code === CANCELLED && this.#closing) return;
      for (const [leaseId, kept] of this.#kept) {
        if (kept.on === on) this.#drop(leaseId, `stream ${e.code}: ${e.details ?? ""}`);
      }
    });
    return on;
  }

  #read(message: KeepAliveManyResponse): void {
    const nowMs = Date.now();
    for (const renewed of message.renewed) {
      const lease = this.#kept.get(renewed.leaseId)?.lease;
      if (!lease) continue;
      const at = renewed.expiresAt!;
      const endMs = Number(at.seconds) * 1000 + at.nanos / 1e6;
      if (endMs < lease.endMs) this.#tally.earlier(lease.endMs - endMs);
      lease.endMs = Math.max(lease.endMs, endMs);
      const gapMs = lease.messages! > 0 ? nowMs - lease.lastMs! - this.#ttlMs / 3 : undefined;
      lease.messages!++;
      lease.lastMs = nowMs;
      this.#tally.renewed(lease, gapMs);
    }
    for (const lost of message.lost) this.#drop(lost.leaseId, describe(lost));
    for (const refused of message.refused) {
      const kept = this.#kept.get(refused.leaseId);
      if (!kept) continue;
      if (refused.code !== RESOURCE_EXHAUSTED || kept.lease.messages! > 0) {
        this.#drop(refused.leaseId, `refused: ${describe(refused)}`);
        continue;
      }
      this.#kept.delete(refused.leaseId);
      kept.on.leases--;
      kept.lease.stream = undefined;
      this.#tally.refused(kept.lease, `KeepAliveMany: ${refused.message}`);
      this.#retry(kept.lease);
    }
  }

  /** A told end passed with no renewal and no loss message: lost, as its owner's own check would find. */
  #checkEnds(): void {
    const nowMs = Date.now();
    for (const [leaseId, { lease }] of this.#kept) {
      if (lease.messages! > 0 && lease.endMs <= nowMs) this.#drop(leaseId, "its expires_at passed without a renewal");
    }
  }

  #drop(leaseId: string, why: string): void {
    const kept = this.#kept.get(leaseId);
    if (!kept) return;
    this.#kept.delete(leaseId);
    kept.on.leases--;
    kept.lease.stream = undefined;
    kept.lease.gone = true;
    this.#tally.lost(kept.lease, why);
  }

  /** A refused keep is sent again after 100-400 ms, while the lease still has time left. */
  #retry(lease: ManyLease): void {
    const pauseMs = 100 + Math.random() * 300;
    if (Date.now() + pauseMs >= lease.endMs) {
      this.#tally.expiredUnkept();
      return;
    }
    setTimeout(() => {
      if (!this.#closing) this.keep(lease);
    }, pauseMs);
  }
}

function describe(error: LeaseError): string {
  return `${error.code} ${error.reason}: ${error.message.replace(/"[^"]*"/g, "NAME")}`;
}
