import type { CallOutcome, Rpc, StreamOutcome, StreamRpc } from "./call-outcome.ts";
import type { LeaseLossReason } from "../engine/lease-loss.ts";

/**
 * What the gRPC layer reports as it serves calls: implemented by the
 * metrics, optional everywhere, so the service and the engine do not depend
 * on any metrics library. Calls are synchronous and must be cheap.
 */
export interface LockServiceObserver {
  /** A unary call ended. `waited`: an Acquire that asked for a non-zero wait. */
  callEnded(rpc: Rpc, outcome: CallOutcome, durationMs: number, waited: boolean): void;
  /** A KeepAlive, Hold or KeepAliveMany stream ended (or was refused), once per stream. */
  streamEnded(rpc: StreamRpc, outcome: StreamOutcome): void;
  /** A KeepAlive stream renewed its lease. */
  renewed(): void;
  /** A KeepAlive stream ended because its lease is lost. */
  leaseLost(reason: LeaseLossReason): void;
}
