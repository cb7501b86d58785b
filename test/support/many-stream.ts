import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { CallOptions, ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import {
  KeepAliveManyRequestSchema,
  type KeepAliveManyRequest,
  type KeepAliveManyResponse,
  type LeaseError,
  type StoppedLease,
} from "../../gen/lock/v1/lock_pb.ts";
import type { LockClient } from "../../src/client/lock-client.ts";

/** How a KeepAliveMany call ended: 0 for OK, else the status code. */
export interface ManyEnd {
  code: number;
  details: string;
}

/**
 * A KeepAliveMany call as a test drives it: items written one by one, every
 * message kept, and per lease id the renewals and the last end told.
 */
export class ManyStream {
  readonly stream: ClientDuplexStream<KeepAliveManyRequest, KeepAliveManyResponse>;
  readonly messages: KeepAliveManyResponse[] = [];
  /** The last expires_at told per lease id, wall-clock ms. */
  readonly told = new Map<string, number>();
  /** Renewed entries per lease id. */
  readonly renewals = new Map<string, number>();
  readonly lost: LeaseError[] = [];
  readonly refused: LeaseError[] = [];
  readonly stopped: StoppedLease[] = [];
  /** An expires_at earlier than one told before for the same lease (never expected). */
  readonly shortened: string[] = [];
  readonly ended: Promise<ManyEnd>;
  readonly #waiters = new Set<() => void>();

  constructor(client: LockClient, options: CallOptions = {}) {
    this.stream = client.keepAliveMany(options);
    this.stream.on("data", (message: KeepAliveManyResponse) => {
      this.messages.push(message);
      for (const lease of message.renewed) {
        const at = lease.expiresAt!;
        const endMs = Number(at.seconds) * 1000 + Math.floor(at.nanos / 1e6);
        if (endMs < (this.told.get(lease.leaseId) ?? 0)) this.shortened.push(lease.name);
        this.told.set(lease.leaseId, Math.max(endMs, this.told.get(lease.leaseId) ?? 0));
        this.renewals.set(lease.leaseId, (this.renewals.get(lease.leaseId) ?? 0) + 1);
      }
      this.lost.push(...message.lost);
      this.refused.push(...message.refused);
      this.stopped.push(...message.stopped);
      for (const wake of [...this.#waiters]) wake();
    });
    this.ended = new Promise((resolve) => {
      this.stream.on("error", (e: ServiceError) => resolve({ code: e.code, details: e.details }));
      this.stream.on("end", () => resolve({ code: 0, details: "" }));
    });
  }

  keep(name: string, leaseId: string, ttlMs: number, expireOnClose = false): void {
    this.stream.write(
      create(KeepAliveManyRequestSchema, {
        item: { case: "keep", value: { name, leaseId, ttl: durationFromMs(ttlMs), expireOnClose } },
      }),
    );
  }

  stop(name: string, leaseId: string, release: boolean): void {
    this.stream.write(
      create(KeepAliveManyRequestSchema, { item: { case: "stop", value: { name, leaseId, release } } }),
    );
  }

  write(request: KeepAliveManyRequest): void {
    this.stream.write(request);
  }

  /** Resolves with what `find` returns once it returns something; checked after each message. */
  next<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = find();
        if (found === undefined) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`KeepAliveMany: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** Waits until the lease was renewed `count` times in all (the first confirms its keep). */
  renewedTimes(leaseId: string, count: number, timeoutMs = 5000): Promise<number> {
    return this.next(
      () => ((this.renewals.get(leaseId) ?? 0) >= count ? this.told.get(leaseId) : undefined),
      timeoutMs,
      `${count} renewals of one lease`,
    );
  }
}
