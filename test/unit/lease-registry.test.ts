import { describe, expect, it } from "vitest";
import type { Lease } from "../../src/engine/lease.ts";
import { type LeaseEnd, LeaseRegistry } from "../../src/engine/lease-registry.ts";

function lease(leaseId: string, endMs: number, name = "n"): Lease {
  // Short ids, not valid lease ids: the registry reads only the secret.
  const id = { text: leaseId, secret: leaseId.split(".")[0]!, fencingToken: 1n };
  return { name, leaseId, id, fencingToken: 1n, ttlMs: 1000, endMs };
}

describe("LeaseRegistry", () => {
  it("stores, replaces and deletes by lease id", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("a", 5000), 0);
    registry.put(lease("b", 6000), 0);
    expect(registry.size).toBe(2);
    expect(registry.get("a")).toEqual(lease("a", 5000));
    registry.put(lease("a", 9000), 10);
    expect(registry.get("a")?.endMs).toBe(9000);
    expect(registry.size).toBe(2);
    registry.delete("n", "a", 0);
    expect(registry.get("a")).toBeUndefined();
    expect(registry.size).toBe(1);
    registry.delete("n", "nope", 0);
    expect(registry.size).toBe(1);
  });

  it("deletes only the lease on the given name", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("s.1", 5000, "orders"), 0);
    registry.delete("other", "s.1", 0);
    expect(registry.get("s.1")?.name).toBe("orders");
    registry.delete("orders", "s.1", 0);
    expect(registry.get("s.1")).toBeUndefined();
  });

  it("finds a lease by its secret whatever token part the id carries", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("secret.42", 5000), 0);
    expect(registry.get("secret.42")?.leaseId).toBe("secret.42");
    expect(registry.get("secret.7")?.leaseId).toBe("secret.42");
    expect(registry.get("other.42")).toBeUndefined();
  });

  it("valid(now) lists leases whose end lies after now; a lease ending exactly now is over", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("early", 100), 0);
    registry.put(lease("exact", 200), 0);
    registry.put(lease("late", 300), 0);
    expect(
      registry
        .valid(199)
        .map((l) => l.leaseId)
        .sort(),
    ).toEqual(["exact", "late"]);
    expect(registry.valid(200).map((l) => l.leaseId)).toEqual(["late"]);
    // valid() took the expired ones out of the live set.
    expect(registry.size).toBe(1);
  });

  it("remembers an expired lease for one more TTL (an Extend must still meet its end), then forgets it", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("early", 100), 0); // TTL 1000: remembered until 1100
    registry.put(lease("exact", 200), 0); // until 1200
    expect(registry.valid(200)).toHaveLength(0);
    expect(registry.size).toBe(0);
    expect(registry.get("early")?.endMs).toBe(100);
    expect(registry.get("exact.9")?.endMs).toBe(200);
    registry.valid(1100);
    expect(registry.get("early")).toBeUndefined();
    expect(registry.get("exact")?.endMs).toBe(200);
    registry.delete("n", "exact", 0);
    expect(registry.get("exact")).toBeUndefined();
    // Renewed after all (put again): live once more.
    registry.put(lease("early", 5000), 1200);
    expect(registry.valid(1300).map((l) => l.leaseId)).toEqual(["early"]);
  });

  it("get() returns an expired lease until it is pruned (the engine checks endMs itself)", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("a", 100), 0);
    expect(registry.get("a")?.endMs).toBe(100);
  });

  it("put() prunes expired leases at most once a second", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("a", 100), 0); // first put prunes (nothing expired yet)
    registry.put(lease("b", 10_000), 500); // 500 ms after the last prune: no prune
    expect(registry.size).toBe(2);
    registry.put(lease("c", 10_000), 999); // still within the second
    expect(registry.size).toBe(3);
    registry.put(lease("d", 10_000), 1000); // a second later: prunes a
    expect(registry.size).toBe(3);
    expect(
      registry
        .valid(1000)
        .map((l) => l.leaseId)
        .sort(),
    ).toEqual(["b", "c", "d"]);
  });

  it("a lease already over when put leaves the live set in that put's prune", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("old", 50), 100);
    expect(registry.size).toBe(0);
    expect(registry.get("old")?.endMs).toBe(50);
  });

  it("sizeAt(now) counts leases, pruning expired ones on the same once-a-second schedule", () => {
    const registry = new LeaseRegistry();
    registry.put(lease("a", 100), 0);
    registry.put(lease("b", 5000), 0);
    expect(registry.sizeAt(500)).toBe(2); // a is over but not yet pruned
    expect(registry.sizeAt(1000)).toBe(1);
  });

  describe("tells how long each lease granted here was held, once", () => {
    const granted = (leaseId: string, grantedMs: number, endMs: number): Lease => ({
      ...lease(leaseId, endMs),
      grantedMs,
    });
    const watched = (): { registry: LeaseRegistry; ends: [number, LeaseEnd][] } => {
      const ends: [number, LeaseEnd][] = [];
      return { registry: new LeaseRegistry((heldMs, end) => ends.push([heldMs, end])), ends };
    };

    it("released: from the grant to the release", () => {
      const { registry, ends } = watched();
      registry.put(granted("a", 100, 5000), 100);
      registry.put({ ...granted("a", 100, 9000) }, 3000); // renewed: same grant
      registry.delete("n", "a", 4100);
      registry.delete("n", "a", 4200);
      expect(ends).toEqual([[4000, "released"]]);
    });

    it("expired: from the grant to the last end known, when the prune finds it over", () => {
      const { registry, ends } = watched();
      registry.put(granted("a", 100, 600), 100);
      expect(ends).toEqual([]);
      registry.valid(1000);
      // Renewed after all (a late answer): the held time was told already.
      registry.put({ ...registry.get("a")!, endMs: 5000 }, 1100);
      registry.delete("n", "a", 1200);
      expect(ends).toEqual([[500, "expired"]]);
    });

    it("lost: from the grant to when it was found lost; one already past its end had expired", () => {
      const { registry, ends } = watched();
      registry.put(granted("a", 0, 5000), 0);
      registry.put(granted("b", 0, 300), 0);
      registry.expire("n", "a", 1200);
      registry.expire("n", "b", 400);
      registry.expire("n", "a", 1300);
      expect(ends).toEqual([
        [1200, "lost"],
        [300, "expired"],
      ]);
    });

    it("says nothing of a lease another sidecar granted", () => {
      const { registry, ends } = watched();
      registry.put(lease("renewed-here", 5000), 0);
      registry.delete("n", "renewed-here", 100);
      expect(ends).toEqual([]);
    });
  });
});
