// The package's entry point: the high-level client first, the generated-message client beside it.
export { Locks, DEFAULT_LOCKS_OPTIONS, type LocksOptions, type HoldWork } from "./locks.ts";
export { Lease } from "./lease.ts";
export { LeaseKeeper, type KeepOptions } from "./lease-keeper.ts";
export { KeptLease } from "./kept-lease.ts";
export type { Duration, HoldOptions } from "./hold-options.ts";
export {
  LockClientError,
  LockNotAcquiredError,
  LockUnavailableError,
  LeaseLostError,
  type LockClientErrorCode,
  type LeaseLossReason,
} from "./errors.ts";
export { LockClient } from "./lock-client.ts";
export { HealthClient, type ServingStatus } from "./health-client.ts";
