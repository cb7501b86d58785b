import { status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { grpcDetailText } from "../util/error-text.ts";

/**
 * What went wrong, as a closed set: `not-acquired` (held elsewhere for the
 * whole wait), `unavailable` (the sidecar or a majority of its instances
 * cannot be reached: retry later), `lease-lost`, `invalid-argument` (a
 * request the sidecar or this client refused), `ended` (the lease was
 * already given back), `other`.
 */
export type LockClientErrorCode =
  | "not-acquired"
  | "unavailable"
  | "lease-lost"
  | "invalid-argument"
  | "ended"
  | "other";

/** Every error the high-level client throws is one of these; `code` says which kind. */
export class LockClientError extends Error {
  override name = "LockClientError";
  readonly code: LockClientErrorCode;
  /** The gRPC status the sidecar answered with, when there was one. */
  readonly grpcCode: grpcStatus | undefined;

  constructor(code: LockClientErrorCode, message: string, options: { cause?: unknown; grpcCode?: grpcStatus } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.grpcCode = options.grpcCode;
  }
}

/** The lock was held by someone else for the whole wait. */
export class LockNotAcquiredError extends LockClientError {
  override name = "LockNotAcquiredError";
  readonly lockName: string;
  /** How long the holder's lease had left when last seen: a hint for when to try again. Undefined when unknown. */
  readonly retryAfterMs: number | undefined;

  constructor(lockName: string, retryAfterMs: number | undefined) {
    const hint = retryAfterMs === undefined ? "" : ` (its lease had ${retryAfterMs} ms left)`;
    super("not-acquired", `${JSON.stringify(lockName)} is held elsewhere${hint}`);
    this.lockName = lockName;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The sidecar, or a majority of its instances, could not be reached. Retrying later may work. */
export class LockUnavailableError extends LockClientError {
  override name = "LockUnavailableError";

  constructor(message: string, options: { cause?: unknown; grpcCode?: grpcStatus } = {}) {
    super("unavailable", message, options);
  }
}

/**
 * Why a held lease was lost:
 * - `revoked`: the sidecar says it is gone (a renewal could not be confirmed by a majority,
 *   or someone else released it through Release with its lease id: the lock is free);
 * - `ended`: the hold ended without the owner asking (the connection dropped, the sidecar
 *   shut down); the lease runs out at its last expiresAt;
 * - `expired`: its last expiresAt passed without a renewal arriving.
 */
export type LeaseLossReason = "revoked" | "ended" | "expired";

/** A held lease is gone, or is going: stop the work it protects. */
export class LeaseLostError extends LockClientError {
  override name = "LeaseLostError";
  readonly lockName: string;
  readonly reason: LeaseLossReason;

  constructor(
    lockName: string,
    reason: LeaseLossReason,
    message: string,
    options: { cause?: unknown; grpcCode?: grpcStatus } = {},
  ) {
    super("lease-lost", `the lease on ${JSON.stringify(lockName)} was lost: ${message}`, options);
    this.lockName = lockName;
    this.reason = reason;
  }
}

export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number" && "details" in error;
}

/** A failed call as this client's error; `what` names the call ("hold \"reports\""). */
export function clientError(what: string, error: unknown): LockClientError {
  if (error instanceof LockClientError) return error;
  if (!isServiceError(error))
    return new LockClientError("other", `${what}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  const grpcCode = error.code;
  const message = `${what}: ${grpcStatus[grpcCode] ?? grpcCode}: ${grpcDetailText(error.details)}`;
  switch (grpcCode) {
    case grpcStatus.UNAVAILABLE:
    case grpcStatus.DEADLINE_EXCEEDED:
      return new LockUnavailableError(message, { cause: error, grpcCode });
    case grpcStatus.INVALID_ARGUMENT:
    case grpcStatus.OUT_OF_RANGE:
      return new LockClientError("invalid-argument", message, { cause: error, grpcCode });
    default:
      return new LockClientError("other", message, { cause: error, grpcCode });
  }
}
