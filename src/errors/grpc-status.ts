import { create, fromBinary, toBinary, type MessageShape } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { Metadata, status, type StatusObject } from "@grpc/grpc-js";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { StatusSchema } from "../../gen/google/rpc/status_pb.ts";
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

/** Where the sidecar's ErrorInfo reasons are defined. */
export const ERROR_DOMAIN = "lock.v1";

/** The trailer gRPC clients read rich error details from. */
const DETAILS_KEY = "grpc-status-details-bin";

/** Named, so a check reads as what it means. */
export const INTERNAL = status.INTERNAL;

/**
 * Maps any thrown value to the gRPC status sent to the caller. A LockError
 * also carries google.rpc.ErrorInfo (its stable reason, domain lock.v1 and
 * metadata) and, for a bad field, google.rpc.BadRequest, in the standard
 * grpc-status-details-bin trailer.
 */
export function toGrpcStatus(error: unknown): StatusObject {
  if (!(error instanceof LockError)) {
    // Anything else is a bug: say so without leaking internals.
    return { code: INTERNAL, details: "internal error", metadata: new Metadata() };
  }
  const code = grpcCode(error);
  const details = [
    anyPack(
      ErrorInfoSchema,
      create(ErrorInfoSchema, { reason: error.reason, domain: ERROR_DOMAIN, metadata: { ...error.metadata } }),
    ),
  ];
  if (error.field !== undefined) {
    const violation = { field: error.field, description: error.message.slice(error.field.length + 2) || error.message };
    details.push(anyPack(BadRequestSchema, create(BadRequestSchema, { fieldViolations: [violation] })));
  }
  const metadata = new Metadata();
  metadata.set(
    DETAILS_KEY,
    Buffer.from(toBinary(StatusSchema, create(StatusSchema, { code, message: error.message, details }))),
  );
  return { code, details: error.message, metadata };
}

/** The gRPC status code of a LockError. */
export function grpcCode(error: LockError): status {
  return STATUS_OF[error.code];
}

type Details = { errorInfo?: MessageShape<typeof ErrorInfoSchema>; badRequest?: MessageShape<typeof BadRequestSchema> };

/** Decodes the rich details of a status a client received (tests, lockctl). */
export function statusDetails(metadata: Metadata | undefined): Details {
  const raw = metadata?.get(DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return {};
  const found: Details = {};
  for (const any of fromBinary(StatusSchema, raw).details) {
    const info = anyUnpack(any, ErrorInfoSchema);
    if (info) found.errorInfo = info;
    const bad = anyUnpack(any, BadRequestSchema);
    if (bad) found.badRequest = bad;
  }
  return found;
}
