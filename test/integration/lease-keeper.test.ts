import { afterEach, describe, expect, it } from "vitest";
import { LeaseLostError, LockClientError, Locks } from "../../src/client/index.ts";
import { useSharedCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

/** The TypeScript client's LeaseKeeper: many leases kept alive over one KeepAliveMany stream. */
describe("LeaseKeeper", () => {
  const cluster = useSharedCluster({ count: 3 });
  const opened: { close(): void }[] = [];
  afterEach(() => {
    for (const o of opened.splice(0)) o.close();
  });
  const start = () => {
    const locks = new Locks({ address: cluster.running.sidecar.address });
    const keeper = locks.keeper();
    opened.push(locks, keeper);
    return { locks, keeper };
  };
  const acquire = async (name: string, ttlMs = 1000) => {
    const r = await cluster.running.client.acquire({ name, ttl: ms(ttlMs) });
    expect(r.acquired).toBe(true);
    return r.lease!.leaseId;
  };
  const free = async (name: string) => {
    const r = await cluster.running.client.acquire({ name, ttl: ms(500) });
    if (r.acquired) await cluster.running.client.release({ name, leaseId: r.lease!.leaseId });
    return r.acquired;
  };

  it("keeps leases renewed, stops one with release, and reports a lost one on its own signal", async () => {
    const { keeper } = start();
    const [a, b, c] = [await acquire("k-a"), await acquire("k-b"), await acquire("k-c")];
    const kept = await Promise.all([
      keeper.keep("k-a", a, { ttl: 1000 }),
      keeper.keep("k-b", b, { ttl: "1s" }),
      keeper.keep("k-c", c, { ttl: 1000 }),
    ]);
    const firstEnd = kept[0]!.expiresAt.getTime();
    await eventually(() => kept[0]!.expiresAt.getTime() > firstEnd + 1000, 5000, "renewals past the first TTL");
    expect(await free("k-a")).toBe(false);

    await keeper.stop(kept[1]!, { release: true });
    expect(await free("k-b")).toBe(true);

    await Promise.all(cluster.redis.map((r) => r.set(`${cluster.prefix}lock:k-c`, "someone-else", "PX", 5000)));
    await eventually(() => kept[2]!.signal.aborted, 3000, "loss");
    expect(kept[2]!.signal.reason).toBeInstanceOf(LeaseLostError);
    expect((kept[2]!.signal.reason as LeaseLostError).reason).toBe("revoked");
    expect(kept[0]!.signal.aborted).toBe(false);
    expect(keeper.size).toBe(1);
  });

  it("rejects a refused keep alone, and close() releases what it keeps", async () => {
    const { keeper } = start();
    const a = await acquire("close-a", 3000);
    const kept = await keeper.keep("close-a", a, { ttl: 3000 });
    const bad = await acquire("close-bad", 3000);
    const refused = await keeper.keep("close-bad", bad, { ttl: 10 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockClientError);
    expect((refused as LockClientError).code).toBe("invalid-argument");
    expect((refused as Error).message).toMatch(/keep\.ttl/);
    expect(kept.signal.aborted).toBe(false);
    keeper.close();
    await eventually(free.bind(null, "close-a"), 2000, "released on close");
    expect(kept.signal.aborted).toBe(false);
  });
});
