/**
 * The one error taxonomy of the sidecar. The engine and the request
 * validation throw only LockError; `grpc-status.ts` maps each code to a gRPC
 * status in one place, so transport and lock logic never disagree.
 */
export type LockErrorCode =
  /** The request breaks a documented bound; the message names field and bound. */
  | "invalid-argument"
  /** Fewer than a majority of instances answered: retryable. */
  | "unavailable"
  /** The lease is no longer held (expired, released, taken over, unconfirmed). */
  | "not-held"
  /** A configured limit of this sidecar was reached. */
  | "resource-exhausted"
  /** The caller cancelled the call. */
  | "cancelled"
  /** The call's deadline passed before the work finished. */
  | "deadline-exceeded"
  /** The sidecar is shutting down and takes no new work. */
  | "shutting-down";

export class LockError extends Error {
  override readonly name = "LockError";
  readonly code: LockErrorCode;

  constructor(code: LockErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function invalidArgument(field: string, problem: string): LockError {
  return new LockError("invalid-argument", `${field}: ${problem}`);
}
