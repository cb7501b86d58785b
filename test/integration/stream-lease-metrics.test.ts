import { readFileSync } from "node:fs";
import { type ServiceError, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { scrape, type Samples } from "../support/prometheus-text.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";
import { TOLERANT } from "../support/tolerant-timeouts.ts";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** /metrics over real HTTP: the build, how KeepAlive and Hold streams end, and how long leases are held. */
describe("build, stream and lease metrics", () => {
  const cluster = useCluster();
  const ended = (s: Samples, rpc: string, outcome: string) => s.value("lock_requests_total", { rpc, outcome });
  const held = (s: Samples, end: string) => ({
    count: s.value("lock_lease_held_seconds_count", { end }),
    sum: s.value("lock_lease_held_seconds_sum", { end }),
  });
  /** Resolves with the stream's status code once it ends. */
  const endOf = (stream: NodeJS.EventEmitter) =>
    new Promise<number>((resolve) => {
      stream.on("data", () => undefined);
      stream.on("error", (e: ServiceError) => resolve(e.code));
      stream.on("end", () => resolve(status.OK));
    });

  it("says which build runs, and every new series exists at 0 from the start", async () => {
    const { running } = await cluster.start({ options: TOLERANT });
    const s = await scrape(running.sidecar.adminPort);
    expect(s.value("lock_build_info", { version, node: process.version })).toBe(1);
    for (const outcome of ["cancelled", "connection_lost", "lost", "invalid", "resource_exhausted", "shutting_down"])
      expect(ended(s, "keep_alive", outcome)).toBe(0);
    for (const outcome of ["contended", "cancelled", "lost", "unavailable"]) expect(ended(s, "hold", outcome)).toBe(0);
    for (const end of ["released", "expired", "lost"]) expect(held(s, end)).toEqual({ count: 0, sum: 0 });
  });

  it("times each lease from its grant to its release or its end", async () => {
    const { running } = await cluster.start({ options: TOLERANT });
    const { client } = running;
    const { lease } = await client.acquire({ name: "released", ttl: ms(10_000) });
    await new Promise((r) => setTimeout(r, 300));
    await client.release({ name: "released", leaseId: lease!.leaseId });
    // Left to run out: held until the end this sidecar knew, a little under its TTL.
    await client.acquire({ name: "expires", ttl: ms(1000) });
    await new Promise((r) => setTimeout(r, 1200));

    const s = await scrape(running.sidecar.adminPort);
    const released = held(s, "released");
    expect(released.count).toBe(1);
    expect(released.sum).toBeGreaterThanOrEqual(0.3);
    expect(released.sum).toBeLessThan(2);
    expect(s.value("lock_lease_held_seconds_bucket", { end: "released", le: "0.25" })).toBe(0);
    expect(s.value("lock_lease_held_seconds_bucket", { end: "released", le: "2.5" })).toBe(1);
    const expired = held(s, "expired");
    expect(expired.count).toBe(1);
    expect(expired.sum).toBeGreaterThan(0.8);
    expect(expired.sum).toBeLessThanOrEqual(1);
  });

  it("counts how each KeepAlive stream ended, once", async () => {
    const { running, prefix } = await cluster.start({ options: TOLERANT });
    const { client } = running;
    const redis = cluster.redis;

    // Refused before keeping anything: a malformed lease id.
    expect(await endOf(client.keepAlive({ name: "k", leaseId: "nope", ttl: ms(1000) }))).toBe(status.INVALID_ARGUMENT);

    // Its owner cancels: released.
    const first = await client.acquire({ name: "k-cancel", ttl: ms(1000) });
    const cancelled = client.keepAlive({ name: "k-cancel", leaseId: first.lease!.leaseId, ttl: ms(1000) });
    const cancelledEnd = endOf(cancelled);
    await new Promise((r) => setTimeout(r, 100));
    cancelled.cancel();
    expect(await cancelledEnd).toBe(status.CANCELLED);

    // Taken away behind the sidecar's back: lost.
    const second = await client.acquire({ name: "k-lost", ttl: ms(1000) });
    const lost = client.keepAlive({ name: "k-lost", leaseId: second.lease!.leaseId, ttl: ms(1000) });
    const lostEnd = endOf(lost);
    await new Promise((r) => setTimeout(r, 100));
    await Promise.all(redis.map((r) => r.set(`${prefix}lock:k-lost`, "someone-else")));
    expect(await lostEnd).toBe(status.FAILED_PRECONDITION);

    await eventually(
      async () => ended(await scrape(running.sidecar.adminPort), "keep_alive", "cancelled") === 1,
      3000,
      "the cancelled stream counted",
    );
    const s = await scrape(running.sidecar.adminPort);
    expect(ended(s, "keep_alive", "invalid")).toBe(1);
    expect(ended(s, "keep_alive", "lost")).toBe(1);
    expect(ended(s, "keep_alive", "connection_lost")).toBe(0);
    expect(held(s, "released").count).toBe(1);
    expect(held(s, "lost").count).toBe(1);
  });

  it("counts how each Hold stream ended, once", async () => {
    const { running } = await cluster.start({ options: TOLERANT });
    const { client } = running;
    const taken = client.hold({ name: "h", ttl: ms(1000) });
    const takenEnd = endOf(taken);
    await eventually(async () => (await scrape(running.sidecar.adminPort)).value("lock_leases_held") === 1);

    // Someone else holds it: the second Hold says so and ends.
    expect(await endOf(client.hold({ name: "h", ttl: ms(1000) }))).toBe(status.OK);
    taken.cancel();
    expect(await takenEnd).toBe(status.CANCELLED);

    await eventually(
      async () => ended(await scrape(running.sidecar.adminPort), "hold", "cancelled") === 1,
      3000,
      "the cancelled Hold counted",
    );
    const s = await scrape(running.sidecar.adminPort);
    expect(ended(s, "hold", "contended")).toBe(1);
    expect(ended(s, "hold", "lost")).toBe(0);
    expect(held(s, "released").count).toBe(1);
  });
});
