import { ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { resolveHoldOptions, type HoldOptions } from "./hold-options.ts";
import { Lease } from "./lease.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import { LockClient } from "./lock-client.ts";
import { openHold } from "./open-hold.ts";

export interface LocksOptions {
  /** host:port of the sidecar's gRPC API. Default "127.0.0.1:50051". */
  address?: string;
  /** Default: plaintext. `ChannelCredentials.createSsl(ca, key, cert)` for a sidecar serving TLS. */
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** A client to use instead of opening one; `close()` then leaves it open. */
  client?: LockClient;
  /** Bound on each call beyond the wait it asks for: a hung sidecar must not hang the caller. Default 10000. */
  callTimeoutMs?: number;
}

export const DEFAULT_LOCKS_OPTIONS = {
  address: "127.0.0.1:50051",
  callTimeoutMs: 10_000,
} as const;

/** The work done while a lease is held: stop when `signal` aborts (the lease was lost). */
export type HoldWork<T> = (lease: Lease, signal: AbortSignal) => Promise<T> | T;

/**
 * Holds locks through a lock sidecar. One instance per process is enough:
 * it keeps one connection, shared by every hold.
 *
 *     const locks = new Locks();
 *     await locks.hold("reports", { ttl: "30s", wait: "5s" }, async (lease, signal) => {
 *       await writeReport({ fencingToken: lease.fencingToken, signal });
 *     });
 */
export class Locks implements Disposable {
  /** The low-level client, for the calls this class does not wrap. */
  readonly client: LockClient;
  readonly #ownsClient: boolean;
  readonly #callTimeoutMs: number;

  constructor(options: LocksOptions = {}) {
    this.#ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new LockClient(
        options.address ?? DEFAULT_LOCKS_OPTIONS.address,
        options.credentials ?? ChannelCredentials.createInsecure(),
        options.channelOptions ?? {},
      );
    this.#callTimeoutMs = options.callTimeoutMs ?? DEFAULT_LOCKS_OPTIONS.callTimeoutMs;
  }

  /**
   * Takes the lock `name` over one Hold call and resolves once it is held;
   * end it with `await using`, `release()` or `[Symbol.asyncDispose]()`.
   * Rejects with LockNotAcquiredError when the wait ran out, with
   * LockUnavailableError when the sidecar or a majority of its instances
   * cannot be reached.
   */
  hold(name: string, options?: HoldOptions): Promise<Lease>;
  /**
   * Runs `work` while holding the lock `name`, then releases it (or lets it
   * run out, with expireOnClose) once `work` settles, and resolves to what
   * it returned. `signal` aborts when the lease is lost; the hold then
   * rejects with that LeaseLostError whatever `work` did.
   */
  hold<T>(name: string, options: HoldOptions, work: HoldWork<T>): Promise<T>;
  hold<T>(name: string, work: HoldWork<T>): Promise<T>;
  async hold<T>(
    name: string,
    optionsOrWork: HoldOptions | HoldWork<T> = {},
    maybeWork?: HoldWork<T>,
  ): Promise<Lease | T> {
    const options = typeof optionsOrWork === "function" ? {} : optionsOrWork;
    const work = typeof optionsOrWork === "function" ? optionsOrWork : maybeWork;
    const resolved = resolveHoldOptions(options);
    const opened = await openHold(this.client, name, resolved, this.#callTimeoutMs);
    const lease = new Lease(opened, {
      client: this.client,
      callTimeoutMs: this.#callTimeoutMs,
      expireOnClose: resolved.expireOnClose,
    });
    if (!work) return lease;
    let result: T;
    try {
      result = await work(lease, lease.signal);
    } catch (error) {
      // Work that failed because the lease was lost reports the loss, the reason it stopped.
      throw lease.signal.aborted ? lease.signal.reason : error;
    } finally {
      await lease[Symbol.asyncDispose]();
    }
    if (lease.signal.aborted) throw lease.signal.reason;
    return result;
  }

  /**
   * Keeps many held leases alive over one KeepAliveMany stream (a lease from
   * Acquire, say): cheaper for the sidecar than a Hold per lease. Close it
   * when done.
   */
  keeper(): LeaseKeeper {
    return new LeaseKeeper(this.client);
  }

  /** Closes the connection (when this instance opened it). Leases still held run out at their last expiresAt. */
  close(): void {
    if (this.#ownsClient) this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
