import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs, one line per state change that matters. Lease ids
 * are never logged: they are the proof of ownership.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "redlock-sidecar" }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** For tests and embedding: logs nothing. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
