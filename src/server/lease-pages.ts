import type { Lease } from "../engine/lease.ts";
import { invalidArgument } from "../errors/lock-error.ts";

/** Where the next page starts: after this lease, in (name, fencing token) order. */
export interface PageCursor {
  name: string;
  fencingToken: bigint;
}

/** A token longer than this was not made here: a name of LOCK_MAX_NAME_BYTES fits many times over. */
const MAX_PAGE_TOKEN_CHARS = 8192;
const TOKEN_VERSION = 1;

/**
 * One page of leases, ordered by name (then token: a name has one live
 * lease, but the order must not depend on it). The next page starts after
 * the last lease of this one, so leases granted or ended between pages move
 * no other lease to another page. `next` is '' on the last page.
 */
export function leasePage(
  leases: readonly Lease[],
  pageSize: number,
  after: PageCursor | undefined,
): { page: Lease[]; next: string } {
  const rest = leases.filter((lease) => after === undefined || compare(lease, after) > 0).sort(compare);
  const page = rest.slice(0, pageSize);
  const last = page.at(-1);
  const next = rest.length > page.length && last ? pageToken({ name: last.name, fencingToken: last.fencingToken }) : "";
  return { page, next };
}

/** Opaque to clients: base64url of a small versioned JSON object. It names a lock, never a lease id. */
export function pageToken(cursor: PageCursor): string {
  const json = JSON.stringify({ v: TOKEN_VERSION, name: cursor.name, token: cursor.fencingToken.toString() });
  return Buffer.from(json, "utf8").toString("base64url");
}

/** The cursor a page token names; undefined for '' (the first page). */
export function parsePageToken(token: string): PageCursor | undefined {
  if (token === "") return undefined;
  const invalid = invalidArgument(
    "page_token",
    "not a next_page_token from ListLeases: pass it back unchanged, or leave it empty for the first page",
  );
  if (token.length > MAX_PAGE_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid;
  }
  const { v, name, token: fencingToken } = (parsed ?? {}) as Record<string, unknown>;
  if (v !== TOKEN_VERSION || typeof name !== "string" || typeof fencingToken !== "string") throw invalid;
  if (!/^\d{1,20}$/.test(fencingToken)) throw invalid;
  return { name, fencingToken: BigInt(fencingToken) };
}

function compare(a: PageCursor, b: PageCursor): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.fencingToken === b.fencingToken ? 0 : a.fencingToken < b.fencingToken ? -1 : 1;
}
