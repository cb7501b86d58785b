import { status } from "@grpc/grpc-js";

/**
 * lockctl's exit codes, documented in the README. `hold` exits with its
 * command's own code instead when the command ran and the lease held.
 */
export const EXIT = {
  ok: 0,
  /** Not acquired (held elsewhere for the whole wait), or not released (no longer held). */
  notDone: 1,
  /** Bad command line, or a request the sidecar refused as invalid. */
  usage: 2,
  /** The lease is no longer held (extend), or was lost while `hold` ran its command. */
  leaseLost: 3,
  /** The sidecar or a majority of its instances cannot be reached, or it is not serving. */
  unavailable: 4,
  /** Anything else. */
  error: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code for a gRPC status a call failed with. */
export function exitCodeOfStatus(code: status): ExitCode {
  switch (code) {
    case status.INVALID_ARGUMENT:
      return EXIT.usage;
    case status.FAILED_PRECONDITION:
      return EXIT.leaseLost;
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return EXIT.unavailable;
    default:
      return EXIT.error;
  }
}
