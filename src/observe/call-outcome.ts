import { LockError, type LockErrorCode } from "../errors/lock-error.ts";

/** The unary RPCs whose outcomes are counted. */
export type Rpc = "acquire" | "extend" | "release" | "describe" | "list_leases";

/** How a call that failed ended, one label value per error class. */
export type ErrorOutcome =
  | "invalid"
  | "unavailable"
  | "not_held"
  | "resource_exhausted"
  | "cancelled"
  | "deadline"
  | "shutting_down"
  | "internal";

/** How a unary call ended: its answer, or the class of its error. */
export type CallOutcome =
  | "acquired"
  | "contended"
  | "extended"
  | "released"
  | "not_released"
  | "held"
  | "free"
  | "listed"
  | ErrorOutcome;

const OUTCOME_OF: Record<LockErrorCode, ErrorOutcome> = {
  "invalid-argument": "invalid",
  unavailable: "unavailable",
  "not-held": "not_held",
  "resource-exhausted": "resource_exhausted",
  cancelled: "cancelled",
  "deadline-exceeded": "deadline",
  "shutting-down": "shutting_down",
};

export const ERROR_OUTCOMES: readonly ErrorOutcome[] = [...new Set(Object.values(OUTCOME_OF)), "internal"];

/** Every outcome each RPC can have, so each series exists (at 0) from the start. */
export const OUTCOMES_OF_RPC: Readonly<Record<Rpc, readonly CallOutcome[]>> = {
  acquire: ["acquired", "contended", ...ERROR_OUTCOMES],
  extend: ["extended", ...ERROR_OUTCOMES],
  release: ["released", "not_released", ...ERROR_OUTCOMES],
  describe: ["held", "free", ...ERROR_OUTCOMES],
  list_leases: ["listed", ...ERROR_OUTCOMES],
};

/** The streams that keep leases, counted once each when it ends. */
export type StreamRpc = "keep_alive" | "hold" | "keep_alive_many";

/**
 * How a stream that keeps a lease ended: `contended` (Hold did not get the
 * lock), `cancelled` (its owner cancelled), `connection_lost`, `deadline`,
 * `shutting_down`, `lost` (the lease was lost, the reason counted apart),
 * `closed` (a KeepAliveMany stream its client half-closed ended OK once no
 * lease was left on it), or the class of the error that refused or failed it.
 */
export type StreamOutcome = "contended" | "connection_lost" | "lost" | "closed" | "released" | ErrorOutcome;

/** Every outcome each stream can have, so each series exists (at 0) from the start. */
export const OUTCOMES_OF_STREAM: Readonly<Record<StreamRpc, readonly StreamOutcome[]>> = {
  keep_alive: ["connection_lost", "lost", "released", ...ERROR_OUTCOMES],
  hold: ["contended", "connection_lost", "lost", "released", ...ERROR_OUTCOMES],
  // A lost lease does not end a KeepAliveMany stream: its loss is counted in lock_leases_lost_total only.
  keep_alive_many: ["closed", "connection_lost", ...ERROR_OUTCOMES],
};

/** The outcome label of a thrown value: its LockError class, or `internal` (a bug). */
export function errorOutcome(error: unknown): ErrorOutcome {
  return error instanceof LockError ? OUTCOME_OF[error.code] : "internal";
}
