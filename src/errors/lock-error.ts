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

/**
 * Stable reasons a program can act on, sent in google.rpc.ErrorInfo. Each
 * code has a default; a few cases say more (LEASE_EXPIRED, OVERLOADED).
 */
export type LockErrorReason =
  | "INVALID_ARGUMENT"
  | "QUORUM_UNAVAILABLE"
  | "LEASE_NOT_HELD"
  | "LEASE_EXPIRED"
  /** A KeepAliveMany keep of a lease already on the stream. */
  | "LEASE_ALREADY_KEPT"
  /** A KeepAliveMany stop of a lease not on the stream. */
  | "LEASE_NOT_KEPT"
  | "LIMIT_EXCEEDED"
  | "OVERLOADED"
  | "CANCELLED"
  | "DEADLINE_EXCEEDED"
  | "SHUTTING_DOWN";

const DEFAULT_REASON: Record<LockErrorCode, LockErrorReason> = {
  "invalid-argument": "INVALID_ARGUMENT",
  unavailable: "QUORUM_UNAVAILABLE",
  "not-held": "LEASE_NOT_HELD",
  "resource-exhausted": "LIMIT_EXCEEDED",
  cancelled: "CANCELLED",
  "deadline-exceeded": "DEADLINE_EXCEEDED",
  "shutting-down": "SHUTTING_DOWN",
};

export interface LockErrorOptions {
  cause?: unknown;
  /** When the code's default reason says too little. */
  reason?: LockErrorReason;
  /** Facts for the caller: `lock` (the name), `setting` (the limit's setting), … Never a lease id. */
  metadata?: Readonly<Record<string, string>>;
  /** For invalid-argument: the request field at fault. */
  field?: string;
}

export class LockError extends Error {
  override readonly name = "LockError";
  readonly code: LockErrorCode;
  readonly reason: LockErrorReason;
  readonly metadata: Readonly<Record<string, string>>;
  readonly field: string | undefined;

  constructor(code: LockErrorCode, message: string, options: LockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason ?? DEFAULT_REASON[code];
    this.metadata = options.metadata ?? {};
    this.field = options.field;
  }
}

export function invalidArgument(field: string, problem: string): LockError {
  return new LockError("invalid-argument", `${field}: ${problem}`, { field });
}
