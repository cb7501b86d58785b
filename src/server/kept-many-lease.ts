import type { Lease } from "../engine/lease.ts";
import type { Keeper, KeeperEvents, LeaseLostError } from "../engine/lease-session.ts";

/** What a lease on a KeepAliveMany stream tells its stream. */
export interface ManyStream {
  renewed(kept: KeptManyLease, lease: Lease): void;
  known(kept: KeptManyLease, lease: Lease): void;
  lost(kept: KeptManyLease, loss: LeaseLostError): void;
}

/**
 * One lease on a KeepAliveMany stream: the keeper of its session and the
 * little the stream needs to answer about it. Its events are methods, not
 * closures: at tens of thousands of leases per stream every byte counts.
 */
export class KeptManyLease implements KeeperEvents {
  readonly stream: ManyStream;
  readonly name: string;
  readonly leaseId: string;
  /** Its key on the stream: the name and the lease's secret, as its session's key. */
  readonly key: string;
  readonly expireOnClose: boolean;
  keeper: Keeper | undefined;
  /** A stop is being carried out: it is still on the stream, but no longer kept. */
  stopping = false;
  /** The last expires_at sent for it (wall ms): none sent later is earlier. */
  toldWallMs = 0;

  constructor(stream: ManyStream, name: string, leaseId: string, key: string, expireOnClose: boolean) {
    this.stream = stream;
    this.name = name;
    this.leaseId = leaseId;
    this.key = key;
    this.expireOnClose = expireOnClose;
  }

  renewed(lease: Lease): void {
    this.stream.renewed(this, lease);
  }

  known(lease: Lease): void {
    this.stream.known(this, lease);
  }

  lost(loss: LeaseLostError): void {
    this.stream.lost(this, loss);
  }
}
