import { describe, expect, it } from "vitest";
import type { LockClient } from "../../src/client/lock-client.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

describe("an instance that stalls right after a grant", () => {
  const cluster = useCluster();

  /**
   * Instance 0 stalls (SIGSTOP); "stale" and "other" are granted by the
   * other two while their SETs for instance 0 wait in its socket, and its
   * circuit opens. `whileStalled` runs then; afterwards instance 0 resumes
   * and runs what it was sent, in order. Returns instance 0's PTTL of each.
   */
  async function stallAfterGrants(
    whileStalled: (client: LockClient, leases: { stale: string; other: string }) => Promise<void>,
  ): Promise<number[]> {
    const { running, servers, prefix } = await cluster.start({
      count: 3,
      options: { instanceTimeoutMs: 200, circuitFailures: 2, circuitProbeIntervalMs: 150 },
    });
    const { client } = running;
    // Scripts cached on every instance first: a stalled EVALSHA must not be a NOSCRIPT that never runs.
    const warm = await client.acquire({ name: "warm", ttl: ms(1000) });
    await client.release({ name: "warm", leaseId: warm.lease!.leaseId });
    servers.pause(0);
    try {
      const stale = await client.acquire({ name: "stale", ttl: ms(20_000) });
      expect(stale.acquired).toBe(true);
      // More failures on instance 0, spanning a probe interval: its circuit opens.
      await new Promise((r) => setTimeout(r, 200));
      const other = await client.acquire({ name: "other", ttl: ms(20_000) });
      expect(other.acquired).toBe(true);
      await eventually(
        async () =>
          (await fetch(`http://${running.sidecar.adminAddress}/status`).then((r) => r.text())).includes("circuit-open"),
        3000,
        "circuit open",
      );
      await whileStalled(client, { stale: stale.lease!.leaseId, other: other.lease!.leaseId });
    } finally {
      servers.resume(0);
    }
    await eventually(async () => (await cluster.redis[0]!.ping()) === "PONG", 3000, "instance 0 answers");
    await new Promise((r) => setTimeout(r, 500));
    return Promise.all(["stale", "other"].map((name) => cluster.redis[0]!.pttl(`${prefix}lock:${name}`)));
  }

  it("keeps no stale key once it resumes: the release sent while its circuit was open runs after the grant's SET", async () => {
    const left = await stallAfterGrants(async (client, leases) => {
      expect((await client.release({ name: "stale", leaseId: leases.stale })).released).toBe(true);
      expect((await client.release({ name: "other", leaseId: leases.other })).released).toBe(true);
    });
    expect(left).toEqual([-2, -2]);
  });

  it("also when the release hands the lock to a caller waiting here: the old lease's key does not stay behind", async () => {
    const left = await stallAfterGrants(async (client, leases) => {
      // A caller of this sidecar waits for "stale": the release hands the lock over to it.
      const waiter = client.acquire({ name: "stale", ttl: ms(1000), wait: ms(5000) });
      await new Promise((r) => setTimeout(r, 800));
      expect((await client.release({ name: "stale", leaseId: leases.stale })).released).toBe(true);
      const next = await waiter;
      expect(next.acquired).toBe(true);
      expect((await client.release({ name: "stale", leaseId: next.lease!.leaseId })).released).toBe(true);
      await client.release({ name: "other", leaseId: leases.other });
    });
    expect(left).toEqual([-2, -2]);
  });
});
