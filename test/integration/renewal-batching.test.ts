import { describe, expect, it } from "vitest";
import type { KeepAliveResponse, Lease } from "../../gen/lock/v1/lock_pb.ts";
import { scriptCalls, useSharedCluster } from "../support/sidecar-cluster.ts";
import { ms } from "../support/sidecar-fixture.ts";

/** Many kept-alive leases renew in batches: one script call per instance per tick, not per lease. */
describe("renewal batching", () => {
  const cluster = useSharedCluster();

  it("keeps 300 leases alive with far fewer script calls than renewals, losing none", async () => {
    const { running, prefix } = cluster;
    const redis = cluster.redis;
    const count = 300;
    const leases: Lease[] = [];
    for (let i = 0; i < count; i++)
      leases.push((await running.client.acquire({ name: `batch-${i}`, ttl: ms(30_000) })).lease!);
    let renewals = 0;
    let failures = 0;
    const before = await scriptCalls(redis[0]!);
    // Each renewal sets a 1.5 s TTL: from then on only renewals keep these alive.
    const streams = leases.map((lease) => {
      const stream = running.client.keepAlive({ name: lease.name, leaseId: lease.leaseId, ttl: ms(1500) });
      stream.on("data", (_m: KeepAliveResponse) => renewals++);
      stream.on("error", () => failures++);
      return stream;
    });
    await new Promise((r) => setTimeout(r, 3000));
    const calls = (await scriptCalls(redis[0]!)) - before;
    // Every lease is still held on every instance.
    const held = await Promise.all(redis.map((r) => r.exists(...leases.map((l) => `${prefix}lock:${l.name}`))));
    streams.forEach((s) => s.cancel());
    expect(held).toEqual([count, count, count]);
    expect(failures).toBe(0);
    // Each stream renews at once and then every ~500 ms: about 1800 renewals in 3 s.
    expect(renewals).toBeGreaterThan(count * 3);
    // Renewals due in the same tick share one call per instance.
    expect(calls).toBeLessThan(renewals / 10);
  });
});
