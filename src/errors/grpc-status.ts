import { status, type StatusObject } from "@grpc/grpc-js";
import { Metadata } from "@grpc/grpc-js";
import { LockError, type LockErrorCode } from "./lock-error.ts";

const STATUS_OF: Record<LockErrorCode, status> = {
  "invalid-argument": status.INVALID_ARGUMENT,
  unavailable: status.UNAVAILABLE,
  "not-held": status.FAILED_PRECONDITION,
  "resource-exhausted": status.RESOURCE_EXHAUSTED,
  cancelled: status.CANCELLED,
  "deadline-exceeded": status.DEADLINE_EXCEEDED,
  "shutting-down": status.UNAVAILABLE,
};

/** Maps any thrown value to the gRPC status sent to the caller. */
export function toGrpcStatus(error: unknown): StatusObject {
  if (error instanceof LockError) {
    return { code: STATUS_OF[error.code], details: error.message, metadata: new Metadata() };
  }
  // Anything else is a bug: say so without leaking internals.
  return { code: status.INTERNAL, details: "internal error", metadata: new Metadata() };
}
