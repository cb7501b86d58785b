/** A lease as the engine knows it; the server turns it into a lock.v1.Lease. */
export interface Lease {
  name: string;
  leaseId: string;
  fencingToken: bigint;
  ttlMs: number;
  /** Conservative end of validity on the monotonic clock. */
  endMs: number;
}

export type AcquireResult =
  | { acquired: true; lease: Lease }
  | { acquired: false; /** Holder's remaining TTL as last seen. */ retryAfterMs: number | undefined };
