import { describe, expect, it } from "vitest";
import type { Lease } from "../../src/engine/lease.ts";
import { parseLeaseId } from "../../src/engine/lease-id.ts";
import { leasePage, pageToken, parsePageToken } from "../../src/server/lease-pages.ts";

function lease(name: string, token: bigint): Lease {
  const id = parseLeaseId(`secret-of-${name.length}-abcdefgh.${token}`);
  return { name, leaseId: id.text, id, fencingToken: token, ttlMs: 1000, endMs: 5000 };
}

describe("leasePage: this sidecar's leases, a page at a time", () => {
  it("orders by name, then token, and resumes after the last lease of the page", () => {
    const leases = [lease("b", 1n), lease("a", 9n), lease("c", 2n), lease("a", 3n)];
    const first = leasePage(leases, 2, undefined);
    expect(first.page.map((l) => [l.name, l.fencingToken])).toEqual([
      ["a", 3n],
      ["a", 9n],
    ]);
    const second = leasePage(leases, 2, parsePageToken(first.next));
    expect(second.page.map((l) => l.name)).toEqual(["b", "c"]);
    expect(second.next).toBe("");
  });

  it("a lease granted or ended between pages moves no other lease to another page", () => {
    const first = leasePage([lease("a", 1n), lease("b", 1n), lease("d", 1n)], 2, undefined);
    const after = parsePageToken(first.next);
    // "a" ended, "c" was granted since: the next page starts after "b" all the same.
    expect(leasePage([lease("b", 1n), lease("c", 1n), lease("d", 1n)], 2, after).page.map((l) => l.name)).toEqual([
      "c",
      "d",
    ]);
  });

  it("a page token round-trips any name and any uint64 token, and only names a lock", () => {
    const cursor = { name: "naïve name with spaces / 日本", fencingToken: 2n ** 64n - 1n };
    expect(parsePageToken(pageToken(cursor))).toEqual(cursor);
    expect(parsePageToken("")).toBeUndefined();
    expect(() => parsePageToken("%%%")).toThrow(/^page_token: /);
  });
});
