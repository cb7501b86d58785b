import type { LeaseId } from "./lease-id.ts";

/** A lease as the engine knows it; the server turns it into a lock.v1.Lease. */
export interface Lease {
  name: string;
  /** The lease id as the client sees it: the text of `id`. */
  leaseId: string;
  /** The lease id as a value: what extend and release take. */
  id: LeaseId;
  fencingToken: bigint;
  ttlMs: number;
  /** Conservative end of validity on the monotonic clock. */
  endMs: number;
  /** AcquireRequest.owner; '' or undefined when none was given, or when this sidecar only renewed the lease. */
  owner?: string | undefined;
  /** When the granting attempt started, on the wall clock (ms); undefined when another sidecar granted it. */
  acquiredAtWallMs?: number | undefined;
  /**
   * When this sidecar granted it, on the monotonic clock: how long it is
   * held is measured from here. Undefined when another sidecar granted it.
   */
  grantedMs?: number | undefined;
}

export type AcquireResult =
  | { acquired: true; lease: Lease }
  | { acquired: false /** Holder's remaining TTL as last seen. */; retryAfterMs: number | undefined };
