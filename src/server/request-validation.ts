import type { Duration } from "@bufbuild/protobuf/wkt";
import { formatDurationMs } from "../config/duration.ts";
import type { SidecarOptions } from "../config/options.ts";
import { parseLeaseId, type LeaseId } from "../engine/lease-id.ts";
import { invalidArgument } from "../errors/lock-error.ts";

/**
 * Checks request fields against the configured bounds. Every error names the
 * field, the bound and the setting that sets it.
 */
export type Limits = Pick<SidecarOptions, "defaultTtlMs" | "minTtlMs" | "maxTtlMs" | "maxWaitMs" | "maxNameBytes">;

const MAX_OWNER_BYTES = 256;
const MAX_LEASE_ID_BYTES = 256;
// C0 and C1 control characters, DEL; U+FFFD marks bytes that were not UTF-8.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN_IN_NAME = /[\u0000-\u001f\u007f-\u009f\ufffd]/u;

export function checkName(name: string, limits: Limits): string {
  if (name === "") throw invalidArgument("name", "must not be empty");
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > limits.maxNameBytes) {
    throw invalidArgument("name", `${bytes} bytes is over the maximum ${limits.maxNameBytes} (LOCK_MAX_NAME_BYTES)`);
  }
  if (FORBIDDEN_IN_NAME.test(name)) throw invalidArgument("name", "must be UTF-8 without control characters");
  return name;
}

export function checkTtlMs(ttl: Duration | undefined, limits: Limits): number {
  if (ttl === undefined) return limits.defaultTtlMs;
  const ms = durationMs("ttl", ttl);
  if (ms < limits.minTtlMs)
    throw invalidArgument(
      "ttl",
      `${formatDurationMs(ms)} is below the minimum ${formatDurationMs(limits.minTtlMs)} (LOCK_MIN_TTL)`,
    );
  if (ms > limits.maxTtlMs)
    throw invalidArgument(
      "ttl",
      `${formatDurationMs(ms)} is above the maximum ${formatDurationMs(limits.maxTtlMs)} (LOCK_MAX_TTL)`,
    );
  return ms;
}

export function checkWaitMs(wait: Duration | undefined, limits: Limits): number {
  if (wait === undefined) return 0;
  const ms = durationMs("wait", wait);
  if (ms > limits.maxWaitMs)
    throw invalidArgument(
      "wait",
      `${formatDurationMs(ms)} is above the maximum ${formatDurationMs(limits.maxWaitMs)} (LOCK_MAX_WAIT)`,
    );
  return ms;
}

/** The lease id, checked and parsed once here; the rest of the code passes the value. */
export function checkLeaseId(leaseId: string): LeaseId {
  if (leaseId === "") throw invalidArgument("lease_id", "must not be empty: pass the lease_id returned by Acquire");
  if (Buffer.byteLength(leaseId, "utf8") > MAX_LEASE_ID_BYTES)
    throw invalidArgument("lease_id", `longer than ${MAX_LEASE_ID_BYTES} bytes`);
  return parseLeaseId(leaseId);
}

const MAX_REQUEST_ID_BYTES = 128;
const REQUEST_ID = /^[\x21-\x7e]*$/;

/** An idempotency key: empty (none) or up to 128 bytes of printable ASCII. */
export function checkRequestId(requestId: string): string {
  if (requestId.length > MAX_REQUEST_ID_BYTES)
    throw invalidArgument("request_id", `longer than ${MAX_REQUEST_ID_BYTES} bytes`);
  if (!REQUEST_ID.test(requestId))
    throw invalidArgument("request_id", "must be printable ASCII without spaces (a UUID, say)");
  return requestId;
}

export function checkOwner(owner: string): string {
  if (Buffer.byteLength(owner, "utf8") > MAX_OWNER_BYTES)
    throw invalidArgument("owner", `longer than ${MAX_OWNER_BYTES} bytes`);
  if (FORBIDDEN_IN_NAME.test(owner)) throw invalidArgument("owner", "must be UTF-8 without control characters");
  return owner;
}

/** ListLeases' default page size, and the most one page may hold. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** page_size: 0 (unset) is the default; negative or above MAX_PAGE_SIZE is refused. */
export function checkPageSize(pageSize: number): number {
  if (pageSize < 0) throw invalidArgument("page_size", `${pageSize} is negative: leave it 0 for ${DEFAULT_PAGE_SIZE}`);
  if (pageSize > MAX_PAGE_SIZE) throw invalidArgument("page_size", `${pageSize} is above the maximum ${MAX_PAGE_SIZE}`);
  return pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize;
}

/** Whole milliseconds of a well-formed, non-negative Duration (sub-millisecond parts round up). */
function durationMs(field: string, d: Duration): number {
  const { seconds, nanos } = d;
  if (nanos < -999_999_999 || nanos > 999_999_999) throw invalidArgument(field, "nanos must lie within ±999,999,999");
  if (seconds < 0n || nanos < 0) throw invalidArgument(field, "must not be negative");
  // Beyond a year every bound is exceeded; cap before converting to a float.
  const cappedSeconds = seconds > 31_536_000n ? 31_536_000 : Number(seconds);
  return cappedSeconds * 1000 + Math.ceil(nanos / 1_000_000);
}
