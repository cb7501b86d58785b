import { randomUUID } from "node:crypto";
import { parseDurationMs } from "../config/duration.ts";
import { LockClientError } from "./errors.ts";

/** A duration: milliseconds, or text like "250ms", "30s", "1m30s". */
export type Duration = number | string;

export interface HoldOptions {
  /** How long the lease lasts unless renewed; renewed about every third of it. Default: the sidecar's default TTL. */
  ttl?: Duration;
  /** How long to keep trying while the lock is held elsewhere. Default 0: one attempt. */
  wait?: Duration;
  /** Who is asking (a pod name, say), for the sidecar's diagnostics. Default "". */
  owner?: string;
  /**
   * Idempotency key: a retry with the same key gets the same lease back while it lives.
   * Default: a fresh UUID per hold, which this client's own retries reuse.
   */
  requestId?: string;
  /** When true, ending the hold lets the lease run out at its last expiresAt instead of releasing it. Default false. */
  expireOnClose?: boolean;
  /** Gives up the wait (the hold rejects with the signal's reason). Once held, end the hold yourself. */
  signal?: AbortSignal;
}

/** HoldOptions checked, with every default applied. */
export interface ResolvedHoldOptions {
  ttlMs: number | undefined;
  waitMs: number;
  owner: string;
  requestId: string;
  expireOnClose: boolean;
  signal: AbortSignal | undefined;
}

export function resolveHoldOptions(options: HoldOptions): ResolvedHoldOptions {
  return {
    ttlMs: options.ttl === undefined ? undefined : durationMs("ttl", options.ttl),
    waitMs: options.wait === undefined ? 0 : durationMs("wait", options.wait),
    owner: options.owner ?? "",
    requestId: options.requestId ?? randomUUID(),
    expireOnClose: options.expireOnClose ?? false,
    signal: options.signal,
  };
}

/** Milliseconds from a number or a duration string; the error names the option. */
export function durationMs(option: string, value: Duration): number {
  const ms = typeof value === "number" ? value : parseDurationMs(value);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    throw new LockClientError(
      "invalid-argument",
      `${option}: ${JSON.stringify(value)} is not a duration: pass milliseconds or text like "250ms", "30s" or "1m30s"`,
    );
  }
  return Math.round(ms);
}
