import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ManyStream } from "../support/many-stream.ts";
import { scrape, type Samples } from "../support/prometheus-text.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";
import { TOLERANT } from "../support/tolerant-timeouts.ts";

/** /metrics over real HTTP: how KeepAliveMany streams end, in lock_requests_total as KeepAlive's do. */
describe("KeepAliveMany streams in lock_requests_total", () => {
  const cluster = useCluster();
  const ended = (s: Samples, outcome: string) => s.get("lock_requests_total", { rpc: "keep_alive_many", outcome });

  it("has every outcome at 0 from the start, and no lost: a lost lease does not end the stream", async () => {
    const { running } = await cluster.start({ options: TOLERANT });
    const s = await scrape(running.sidecar.adminPort);
    for (const outcome of [
      "closed",
      "cancelled",
      "connection_lost",
      "deadline",
      "shutting_down",
      "resource_exhausted",
      "internal",
    ])
      expect(ended(s, outcome), outcome).toBe(0);
    expect(ended(s, "lost")).toBeUndefined();
  });

  it("counts each stream once, by how it ended, whatever became of its leases", async () => {
    const { running, prefix } = await cluster.start({ options: { ...TOLERANT, maxStreams: 2 } });
    const { client } = running;
    const count = async (outcome: string) => ended(await scrape(running.sidecar.adminPort), outcome);
    const { lease } = await client.acquire({ name: "m-lost", ttl: ms(1000) });
    const closed = new ManyStream(client);
    closed.keep("m-lost", lease!.leaseId, 1000);
    await closed.renewedTimes(lease!.leaseId, 1);

    // Two streams open fill LOCK_MAX_STREAMS: a third is refused whole.
    const released = await client.acquire({ name: "m-released", ttl: ms(1000) });
    const cancelled = new ManyStream(client);
    cancelled.keep("m-released", released.lease!.leaseId, 1000);
    await cancelled.renewedTimes(released.lease!.leaseId, 1);
    const refused = new ManyStream(client);
    expect((await refused.ended).code).toBe(status.RESOURCE_EXHAUSTED);
    cancelled.stream.cancel();
    expect((await cancelled.ended).code).toBe(status.CANCELLED);
    await eventually(async () => (await count("cancelled")) === 1, 3000, "the cancelled stream counted");
    // Its lease released, it is off the count LOCK_MAX_STREAMS limits: room for one more.
    await eventually(
      async () => (await scrape(running.sidecar.adminPort)).value("lock_keepalive_streams_open") === 1,
      3000,
      "the cancelled stream done",
    );

    const timed = await client.acquire({ name: "m-timed", ttl: ms(1000) });
    const deadline = new ManyStream(client, { deadline: Date.now() + 600 });
    deadline.keep("m-timed", timed.lease!.leaseId, 1000);
    expect((await deadline.ended).code).toBe(status.DEADLINE_EXCEEDED);

    // A lease lost on the stream is said for that lease alone; the stream goes on, and ends
    // OK once half-closed with no lease left.
    await Promise.all(cluster.redis.map((r) => r.set(`${prefix}lock:m-lost`, "someone-else")));
    await closed.next(() => closed.lost[0], 3000, "loss");
    closed.stream.end();
    expect(await closed.ended).toEqual({ code: status.OK, details: "" });

    await eventually(async () => (await count("closed")) === 1, 3000, "the half-closed stream counted");
    const s = await scrape(running.sidecar.adminPort);
    expect(ended(s, "deadline")).toBe(1);
    expect(ended(s, "resource_exhausted")).toBe(1);
    expect(ended(s, "cancelled")).toBe(1);
    expect(ended(s, "connection_lost")).toBe(0);
    expect(s.value("lock_leases_lost_total", { reason: "not_held" })).toBe(1);
  });
});
