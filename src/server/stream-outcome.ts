import { toGrpcStatus } from "../errors/grpc-status.ts";
import { errorOutcome, type StreamOutcome, type StreamRpc } from "../observe/call-outcome.ts";
import type { LockServiceObserver } from "../observe/lock-service-observer.ts";
import type { CallEnd } from "./call-end.ts";

const OUTCOME_OF_END: Readonly<Record<CallEnd, StreamOutcome>> = {
  "owner-cancelled": "cancelled",
  "connection-lost": "connection_lost",
  deadline: "deadline",
  shutdown: "shutting_down",
};

/** The outcome label of a stream that kept its lease until the call ended `how`. */
export function endOutcome(how: CallEnd): StreamOutcome {
  return OUTCOME_OF_END[how];
}

/** Ends a stream before it keeps any lease, with the error's status, and counts it. */
export function refuseStream(
  observer: LockServiceObserver | undefined,
  rpc: StreamRpc,
  stream: NodeJS.EventEmitter,
  error: unknown,
): void {
  observer?.streamEnded(rpc, errorOutcome(error));
  stream.emit("error", toGrpcStatus(error));
}
