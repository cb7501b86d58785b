import { status, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import { scrape } from "../support/prometheus-text.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { ms } from "../support/sidecar-fixture.ts";

/** How a KeepAlive stream ended, and the last expires_at it sent (wall ms). */
function watch(stream: NodeJS.EventEmitter): Promise<{ code: number; lastToldMs: number; endedAtMs: number }> {
  let lastToldMs = 0;
  stream.on("data", (m: KeepAliveResponse) => {
    const at = m.lease!.expiresAt!;
    lastToldMs = Number(at.seconds) * 1000 + Math.floor(at.nanos / 1e6);
  });
  return new Promise((resolve) => {
    stream.on("error", (e: ServiceError) => resolve({ code: e.code, lastToldMs, endedAtMs: Date.now() }));
    stream.on("end", () => resolve({ code: status.OK, lastToldMs, endedAtMs: Date.now() }));
  });
}

describe("the reason a kept-alive lease is counted lost", () => {
  const cluster = useCluster();

  it("unconfirmed: renewals that hang past the end told are a loss by that end, not a lease found taken", async () => {
    // A renewal waits up to 3 s for paused instances, far past the 1 s lease.
    const { running, servers } = await cluster.start({ count: 3, options: { instanceTimeoutMs: 3000 } });
    const { lease } = await running.client.acquire({ name: "hung", ttl: ms(1000) });
    const before = await scrape(running.sidecar.adminPort);
    const stream = running.client.keepAlive({ name: "hung", leaseId: lease!.leaseId, ttl: ms(1000) });
    const ended = watch(stream);
    await new Promise((r) => setTimeout(r, 100));
    servers.pause(0);
    servers.pause(1);
    try {
      const end = await ended;
      expect(end.code).toBe(status.FAILED_PRECONDITION);
      // Reported by the last end it sent (a few ms of scheduling aside), not when the hung renewal timed out.
      expect(end.endedAtMs).toBeLessThan(end.lastToldMs + 250);
      const after = await scrape(running.sidecar.adminPort);
      const lost = (reason: string): number =>
        after.value("lock_leases_lost_total", { reason }) - before.value("lock_leases_lost_total", { reason });
      expect(lost("unconfirmed")).toBe(1);
      expect(lost("not_held")).toBe(0);
    } finally {
      servers.resume(0);
      servers.resume(1);
    }
  });

  it("not_held: a lease taken over on the instances", async () => {
    const { running, prefix } = await cluster.start({ count: 3 });
    const { lease } = await running.client.acquire({ name: "taken", ttl: ms(1000) });
    const before = await scrape(running.sidecar.adminPort);
    const stream = running.client.keepAlive({ name: "taken", leaseId: lease!.leaseId, ttl: ms(1000) });
    const ended = watch(stream);
    await new Promise((r) => setTimeout(r, 100));
    await Promise.all(cluster.redis.map((r) => r.set(`${prefix}lock:taken`, "someone-else", "PX", 5000)));
    expect((await ended).code).toBe(status.FAILED_PRECONDITION);
    const after = await scrape(running.sidecar.adminPort);
    expect(
      after.value("lock_leases_lost_total", { reason: "not_held" }) -
        before.value("lock_leases_lost_total", { reason: "not_held" }),
    ).toBe(1);
    expect(
      after.value("lock_leases_lost_total", { reason: "unconfirmed" }) -
        before.value("lock_leases_lost_total", { reason: "unconfirmed" }),
    ).toBe(0);
  });

  it("unavailable: the first renewal of a lease granted elsewhere finds no majority", async () => {
    const { running, servers } = await cluster.start({ count: 3, options: { instanceTimeoutMs: 200 } });
    const before = await scrape(running.sidecar.adminPort);
    servers.pause(0);
    servers.pause(1);
    try {
      // A well-formed id this sidecar never granted: it has no end to go by.
      const stream = running.client.keepAlive({ name: "elsewhere", leaseId: `${"A".repeat(27)}.42`, ttl: ms(1000) });
      expect((await watch(stream)).code).toBe(status.UNAVAILABLE);
      const after = await scrape(running.sidecar.adminPort);
      expect(
        after.value("lock_leases_lost_total", { reason: "unavailable" }) -
          before.value("lock_leases_lost_total", { reason: "unavailable" }),
      ).toBe(1);
    } finally {
      servers.resume(0);
      servers.resume(1);
    }
  });
});
