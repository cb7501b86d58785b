import { status as grpcStatus } from "@grpc/grpc-js";
import { isServiceError, LockClientError } from "../client/errors.ts";
import { grpcDetailText } from "../util/error-text.ts";
import { EXIT, exitCodeOfStatus, type ExitCode } from "./exit-codes.ts";

/** A failure lockctl reports on stderr and exits with. */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly exitCode: ExitCode;

  constructor(exitCode: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, message);
}

/** Turns what a call rejected with into a CliError naming what was being done. */
export function callFailed(what: string, error: unknown): CliError {
  if (error instanceof CliError) return error;
  // The high-level client's errors already name the call; their gRPC status gives the exit code.
  if (error instanceof LockClientError)
    return new CliError(exitCodeOfClientError(error), error.message, { cause: error });
  if (isServiceError(error)) {
    const name = grpcStatus[error.code] ?? String(error.code);
    return new CliError(exitCodeOfStatus(error.code), `${what}: ${name}: ${grpcDetailText(error.details)}`, {
      cause: error,
    });
  }
  return new CliError(EXIT.error, `${what}: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
}

function exitCodeOfClientError(error: LockClientError): ExitCode {
  switch (error.code) {
    case "not-acquired":
    case "ended":
      return EXIT.notDone;
    case "unavailable":
      return EXIT.unavailable;
    case "lease-lost":
      return EXIT.leaseLost;
    case "invalid-argument":
      return EXIT.usage;
    case "other":
      return error.grpcCode === undefined ? EXIT.error : exitCodeOfStatus(error.grpcCode);
  }
}
