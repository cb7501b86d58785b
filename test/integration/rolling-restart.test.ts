import { describe, expect, it } from "vitest";
import { rollingRestart } from "../support/rolling-restart.ts";
import { useCluster } from "../support/sidecar-cluster.ts";

describe("a rolling restart of the instances, each back empty, with the restart quarantine on", () => {
  const cluster = useCluster();

  it("costs at most a moment of UNAVAILABLE, and no grant overlaps another's told end", async () => {
    // Quarantine on with the default LOCK_MAX_TTL (5 min): without witnesses, every call after the second restart fails.
    const { running, servers } = await cluster.start({
      count: 3,
      options: { restartQuarantine: "on", instanceTimeoutMs: 250 },
    });
    const result = await rollingRestart(running.client, servers, {
      names: 3,
      leaseTtlMs: 1000,
      holdMs: 100,
      gapMs: 3000,
      instances: 3,
    });
    expect(result.grants).toBeGreaterThan(20);
    expect(result.overlaps).toBe(0);
    expect(result.tokenRegressions).toBe(0);
    expect(result.unavailableSeconds).toBeLessThan(1);
  }, 60_000);

  it("a second restart while the first still sits out: the second falls back until the first can witness for it; no overlaps", async () => {
    const { running, servers } = await cluster.start({
      count: 3,
      options: { restartQuarantine: "on", instanceTimeoutMs: 250 },
    });
    type Status = { instances: { guard: string; quarantine: { basis: string } | null }[] };
    const status = async (): Promise<Status> =>
      (await fetch(`http://${running.sidecar.adminAddress}/status`)).json() as Promise<Status>;
    const until = async (what: string, test: (s: Status) => boolean, timeoutMs: number): Promise<Status> => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        // Calls make the sidecar notice restarts (a new connection is identified on its first answer).
        await running.client.acquire({ name: "probe", ttl: { seconds: 1n, nanos: 0 } }).catch(() => undefined);
        const s = await status();
        if (test(s)) return s;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // Held across both restarts: instance 0's quarantine lasts until this lease's end.
    const granted = await running.client.acquire({ name: "close", ttl: { seconds: 4n, nanos: 0 } });
    expect(granted.acquired).toBe(true);
    const end = granted.lease!.expiresAt!;
    const endMs = Number(end.seconds) * 1000 + Math.floor(end.nanos / 1e6);
    await servers.kill(0);
    await servers.startOne(0);
    await until("instance 0 witnessed", (s) => s.instances[0]!.quarantine?.basis === "witnessed", 5000);
    await servers.kill(1);
    await servers.startOne(1);
    // Instance 1 has one witness (instance 2) of the two it needs: fallback, said in /status and the metric.
    await until("instance 1 in fallback", (s) => s.instances[1]!.quarantine?.basis === "fallback", 5000);
    const metrics = await (await fetch(`http://${running.sidecar.adminAddress}/metrics`)).text();
    expect(metrics).toMatch(/lock_instance_quarantine_fallback\{instance="[^"]+"\} 1/);
    // Nobody gets the lock before the end its holder was told.
    const other = await running.client
      .acquire({ name: "close", ttl: { seconds: 1n, nanos: 0 }, wait: { seconds: 8n, nanos: 0 } })
      .catch(() => undefined);
    if (other?.acquired) expect(Date.now()).toBeGreaterThanOrEqual(endMs);
    // Once instance 0's quarantine is over it witnesses for instance 1: all count again long before LOCK_MAX_TTL.
    await until("every instance counting", (s) => s.instances.every((i) => i.guard === "ok"), 15_000);
  }, 60_000);
});
