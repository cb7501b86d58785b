import { describe, expect, it } from "vitest";
import { parseLeaseId } from "../../src/engine/lease-id.ts";
import { LeaseRegistry } from "../../src/engine/lease-registry.ts";
import type { AcquireResult, Lease } from "../../src/engine/lease.ts";
import { RequestIds } from "../../src/engine/request-ids.ts";
import { ManualClock } from "./support/manual-clock.ts";

function lease(secret: string, endMs: number): Lease {
  const id = parseLeaseId(`${secret.padEnd(16, "x")}.7`);
  return { name: "job", leaseId: id.text, id, fencingToken: 7n, ttlMs: 1000, endMs };
}

function setup(limit = 10_000) {
  const clock = new ManualClock({ monotonicMs: 1000 });
  const leases = new LeaseRegistry();
  const ids = new RequestIds(leases, clock, limit);
  let calls = 0;
  const grant = (l: Lease) => async (): Promise<AcquireResult> => {
    calls++;
    leases.put(l, clock.monotonicMs());
    return { acquired: true, lease: l };
  };
  return { clock, leases, ids, grant, calls: () => calls };
}

describe("RequestIds", () => {
  it("a retry with the same id gets the same lease while it lives, without acquiring again", async () => {
    const { ids, grant, calls } = setup();
    const first = await ids.acquire("job", "r1", grant(lease("a", 2000)));
    const retry = await ids.acquire("job", "r1", grant(lease("b", 2000)));
    expect(retry).toEqual(first);
    expect(calls()).toBe(1);
  });

  it("a retry that arrives while the first call runs shares its outcome", async () => {
    const { ids, grant, calls } = setup();
    const [a, b] = await Promise.all([
      ids.acquire("job", "r1", grant(lease("a", 2000))),
      ids.acquire("job", "r1", grant(lease("b", 2000))),
    ]);
    expect(a).toEqual(b);
    expect(calls()).toBe(1);
  });

  it("asks afresh once the lease ended, was released or was lost", async () => {
    const { clock, leases, ids, grant, calls } = setup();
    await ids.acquire("job", "r1", grant(lease("a", 2000)));
    clock.advance(1500);
    const afterEnd = await ids.acquire("job", "r1", grant(lease("b", 9000)));
    expect(afterEnd.acquired && afterEnd.lease.leaseId.startsWith("b")).toBe(true);
    leases.delete("job", afterEnd.acquired ? afterEnd.lease.leaseId : "", clock.monotonicMs());
    await ids.acquire("job", "r1", grant(lease("c", 9000)));
    expect(calls()).toBe(3);
  });

  it("another name or another id is another request; a refusal is not remembered", async () => {
    const { ids, grant, calls } = setup();
    await ids.acquire("job", "r1", grant(lease("a", 2000)));
    await ids.acquire("job", "r2", grant(lease("b", 2000)));
    await ids.acquire("other", "r1", grant(lease("c", 2000)));
    expect(calls()).toBe(3);
    await ids.acquire("job", "r3", async () => ({ acquired: false, retryAfterMs: 5 }));
    expect(ids.size).toBe(3);
  });

  it("remembers at most its limit, the oldest forgotten first", async () => {
    const { ids, grant, calls } = setup(2);
    await ids.acquire("job", "r1", grant(lease("a", 2000)));
    await ids.acquire("job", "r2", grant(lease("b", 2000)));
    await ids.acquire("job", "r3", grant(lease("c", 2000)));
    expect(ids.size).toBe(2);
    await ids.acquire("job", "r1", grant(lease("d", 2000)));
    expect(calls()).toBe(4);
  });
});
