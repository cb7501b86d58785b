import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { status as grpcStatus, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import {
  KeepAliveManyRequestSchema,
  type KeepAliveManyRequest,
  type KeepAliveManyResponse,
  type LeaseError,
} from "../../gen/lock/v1/lock_pb.ts";
import { clientError, LeaseLostError, LockClientError } from "./errors.ts";
import { durationMs, type Duration } from "./hold-options.ts";
import { KeptLease } from "./kept-lease.ts";
import type { LockClient } from "./lock-client.ts";

export interface KeepOptions {
  /** TTL of each renewal ("30s", or milliseconds). Default: the sidecar's default TTL. */
  ttl?: Duration;
  /** When true, close() leaves this lease to run out at its last expiresAt instead of releasing it. */
  expireOnClose?: boolean;
}

type Settle<T> = { resolve(value: T): void; reject(error: unknown): void };

/** One lease id on the stream: waiting for its first renewal, kept, or being stopped. */
interface Entry {
  name: string;
  lease?: KeptLease;
  keeping?: Settle<KeptLease> | undefined;
  stopping?: Settle<void> | undefined;
}

/**
 * Keeps many held leases alive over one KeepAliveMany stream: one stream
 * for all of them instead of one per lease.
 *
 *     const keeper = locks.keeper();
 *     const kept = await keeper.keep(name, leaseId, { ttl: "30s" });
 *     // ... work while kept.signal has not aborted ...
 *     await keeper.stop(kept, { release: true });
 *     keeper.close(); // releases the others (those kept with expireOnClose run out)
 *
 * A refused keep or stop rejects alone; a lost lease aborts its own signal.
 * If the stream ends without close() (the connection dropped, the sidecar
 * shut down), every lease on it is lost and runs out at its last expiresAt.
 */
export class LeaseKeeper {
  readonly #stream: ClientDuplexStream<KeepAliveManyRequest, KeepAliveManyResponse>;
  /** By lease id, as the sidecar names each lease in its answers. */
  readonly #entries = new Map<string, Entry>();
  #ended: LockClientError | undefined;

  constructor(client: LockClient) {
    this.#stream = client.keepAliveMany();
    this.#stream.on("data", (message: KeepAliveManyResponse) => this.#read(message));
    this.#stream.on("error", (error: ServiceError) => this.#end(error));
    this.#stream.on("end", () => this.#end(undefined));
  }

  /** Starts keeping a held lease alive; resolves at its first renewal. */
  keep(name: string, leaseId: string, options: KeepOptions = {}): Promise<KeptLease> {
    const what = `keep ${JSON.stringify(name)}`;
    if (this.#ended) return Promise.reject(this.#ended);
    if (this.#entries.has(leaseId))
      return Promise.reject(new LockClientError("invalid-argument", `${what}: this lease is kept here already`));
    let ttl: ReturnType<typeof durationFromMs> | undefined;
    try {
      ttl = options.ttl === undefined ? undefined : durationFromMs(durationMs("ttl", options.ttl));
    } catch (error) {
      return Promise.reject(clientError(what, error));
    }
    return new Promise((resolve, reject) => {
      this.#entries.set(leaseId, { name, keeping: { resolve, reject } });
      const value = { name, leaseId, expireOnClose: options.expireOnClose ?? false, ...(ttl ? { ttl } : {}) };
      this.#stream.write(create(KeepAliveManyRequestSchema, { item: { case: "keep", value } }));
    });
  }

  /**
   * Stops keeping `lease`: with `release`, gives it back now; without, lets
   * it run out at its last expiresAt. Resolves once the sidecar confirms it
   * (or reported it lost meanwhile).
   */
  stop(lease: KeptLease, options: { release: boolean }): Promise<void> {
    const what = `stop ${JSON.stringify(lease.name)}`;
    if (this.#ended) return Promise.reject(this.#ended);
    const entry = this.#entries.get(lease.leaseId);
    if (entry?.lease !== lease || entry.stopping)
      return Promise.reject(new LockClientError("ended", `${what}: it is not kept here, or is being stopped`));
    return new Promise((resolve, reject) => {
      entry.stopping = { resolve, reject };
      const value = { name: lease.name, leaseId: lease.leaseId, release: options.release };
      this.#stream.write(create(KeepAliveManyRequestSchema, { item: { case: "stop", value } }));
    });
  }

  /** Leases kept now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Ends the stream: every lease on it is released, except those kept with expireOnClose (they run out). */
  close(): void {
    if (this.#ended) return;
    this.#ended = new LockClientError("ended", "the lease keeper was closed");
    for (const entry of this.#entries.values()) {
      entry.lease?.stopped();
      entry.keeping?.reject(this.#ended);
      entry.stopping?.resolve();
    }
    this.#entries.clear();
    this.#stream.cancel();
  }

  #read(message: KeepAliveManyResponse): void {
    for (const renewed of message.renewed) {
      const entry = this.#entries.get(renewed.leaseId);
      if (!entry) continue;
      if (entry.lease) {
        entry.lease.renewed(renewed);
        continue;
      }
      entry.lease = new KeptLease(renewed);
      entry.keeping?.resolve(entry.lease);
      entry.keeping = undefined;
    }
    for (const lost of message.lost) {
      const entry = this.#take(lost.leaseId);
      const grpcCode = lost.code;
      entry?.lease?.lose("revoked", lost.message, { grpcCode });
      entry?.keeping?.reject(new LeaseLostError(entry.name, "revoked", lost.message, { grpcCode }));
      entry?.stopping?.resolve();
    }
    for (const refused of message.refused) {
      const entry = this.#entries.get(refused.leaseId);
      if (entry?.stopping) {
        entry.stopping.reject(itemError(`stop ${JSON.stringify(entry.name)}`, refused));
        entry.stopping = undefined;
      } else if (entry?.keeping) {
        this.#entries.delete(refused.leaseId);
        entry.keeping.reject(itemError(`keep ${JSON.stringify(entry.name)}`, refused));
      }
    }
    for (const stopped of message.stopped) {
      const entry = this.#take(stopped.leaseId);
      entry?.lease?.stopped();
      entry?.stopping?.resolve();
    }
  }

  /** The stream ended without close(): every lease on it runs out at its last expiresAt. */
  #end(error: ServiceError | undefined): void {
    if (this.#ended) return;
    const how = error ? `${grpcStatus[error.code] ?? error.code}: ${error.details}` : "the sidecar ended it";
    this.#ended = clientError("keep", error ?? new LockClientError("ended", `the stream ended (${how})`));
    for (const entry of this.#entries.values()) {
      const lost = `the stream ended (${how}); the lease runs out at ${entry.lease?.expiresAt.toISOString()}`;
      entry.lease?.lose("ended", lost, { cause: error, ...(error ? { grpcCode: error.code } : {}) });
      entry.keeping?.reject(this.#ended);
      entry.stopping?.reject(this.#ended);
    }
    this.#entries.clear();
  }

  #take(leaseId: string): Entry | undefined {
    const entry = this.#entries.get(leaseId);
    this.#entries.delete(leaseId);
    return entry;
  }
}

/** A refused item as the error a failed call with the same status would be. */
function itemError(what: string, refused: LeaseError): LockClientError {
  const asCall = Object.assign(new Error(refused.message), { code: refused.code, details: refused.message });
  return clientError(what, asCall);
}
