import { status, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import type { SidecarOptions } from "../../src/config/options.ts";
import { scrape, type Samples } from "../support/prometheus-text.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms, type Running } from "../support/sidecar-fixture.ts";
import { TOLERANT } from "../support/tolerant-timeouts.ts";

/** The admin listener over real HTTP on 127.0.0.1: /metrics values move with real calls, probes follow the instances. */
describe("metrics and probes", () => {
  const cluster = useCluster();
  const redis = cluster.redis;
  let running: Running | undefined;
  const setUp = async (overrides: Partial<SidecarOptions> = {}) => {
    const started = await cluster.start({ options: { ...TOLERANT, ...overrides } });
    running = started.running;
    return started;
  };

  const get = (path: string) => fetch(`http://127.0.0.1:${running!.sidecar.adminPort}${path}`);
  const requests = (s: Samples, rpc: string, outcome: string) => s.value("lock_requests_total", { rpc, outcome });
  const durationCount = (s: Samples, rpc: string) => s.value("lock_request_duration_seconds_count", { rpc });
  const errorOf = (call: Promise<unknown>) =>
    call.then(
      () => undefined,
      (e: unknown) => e as ServiceError,
    );

  it("exposes every series from the start, with instance states and default process metrics", async () => {
    const { running, servers } = await setUp();
    const s = await scrape(running.sidecar.adminPort);
    for (const [rpc, outcome] of [
      ["acquire", "acquired"],
      ["acquire", "contended"],
      ["acquire", "unavailable"],
      ["extend", "not_held"],
      ["release", "not_released"],
    ]) {
      expect(requests(s, rpc!, outcome!)).toBe(0);
    }
    expect(s.value("lock_leases_held")).toBe(0);
    expect(s.value("lock_waiters")).toBe(0);
    expect(s.value("lock_handovers_total", { outcome: "granted" })).toBe(0);
    expect(s.value("lock_handovers_total", { outcome: "not_granted" })).toBe(0);
    expect(s.value("lock_keepalive_streams_open")).toBe(0);
    expect(s.value("lock_keepalive_renewals_total")).toBe(0);
    expect(s.value("lock_leases_lost_total", { reason: "not_held" })).toBe(0);
    expect(s.value("lock_quorum_available")).toBe(1);
    for (const url of servers.urls) {
      expect(s.value("lock_instance_up", { instance: url })).toBe(1);
      // The health probes' PINGs went through the observing decorator already.
      expect(s.value("lock_instance_latency_seconds_count", { instance: url })).toBeGreaterThan(0);
      expect(s.value("lock_instance_errors_total", { instance: url })).toBe(0);
    }
    expect(s.has("process_cpu_seconds_total")).toBe(true);
    expect(s.has("nodejs_eventloop_lag_seconds")).toBe(true);
    const text = await (await get("/metrics")).text();
    expect(text).toMatch(/^# HELP lock_requests_total /m);
  });

  it("counts each call's outcome exactly and times it", async () => {
    const { running, servers } = await setUp();
    const { client } = running;
    const before = await scrape(running.sidecar.adminPort);

    const leases = [];
    for (const name of ["m-a", "m-b", "m-c"]) leases.push((await client.acquire({ name, ttl: ms(5000) })).lease!);
    expect((await client.acquire({ name: "m-a" })).acquired).toBe(false);
    expect((await errorOf(client.acquire({ name: "" })))?.code).toBe(status.INVALID_ARGUMENT);
    await client.extend({ name: "m-b", leaseId: leases[1]!.leaseId, ttl: ms(5000) });
    expect((await client.release({ name: "m-c", leaseId: leases[2]!.leaseId })).released).toBe(true);
    expect((await client.release({ name: "m-c", leaseId: leases[2]!.leaseId })).released).toBe(false);
    expect((await errorOf(client.extend({ name: "m-c", leaseId: leases[2]!.leaseId, ttl: ms(5000) })))?.code).toBe(
      status.FAILED_PRECONDITION,
    );

    const after = await scrape(running.sidecar.adminPort);
    const delta = (rpc: string, outcome: string) => requests(after, rpc, outcome) - requests(before, rpc, outcome);
    expect(delta("acquire", "acquired")).toBe(3);
    expect(delta("acquire", "contended")).toBe(1);
    expect(delta("acquire", "invalid")).toBe(1);
    expect(delta("extend", "extended")).toBe(1);
    expect(delta("extend", "not_held")).toBe(1);
    expect(delta("release", "released")).toBe(1);
    expect(delta("release", "not_released")).toBe(1);
    expect(durationCount(after, "acquire") - durationCount(before, "acquire")).toBe(5);
    expect(durationCount(after, "extend") - durationCount(before, "extend")).toBe(2);
    expect(durationCount(after, "release") - durationCount(before, "release")).toBe(2);
    // Two leases are still held (m-a and m-b); m-c was released.
    expect(after.value("lock_leases_held")).toBe(2);
    // No Acquire asked to wait.
    expect(after.value("lock_acquire_wait_seconds_count", { outcome: "acquired" })).toBe(0);
    for (const url of servers.urls) {
      expect(after.value("lock_instance_latency_seconds_count", { instance: url })).toBeGreaterThan(
        before.value("lock_instance_latency_seconds_count", { instance: url }),
      );
    }
  });

  it("observes the wait of Acquire calls that asked to wait, by outcome", async () => {
    const { running } = await setUp();
    const { client } = running;
    const held = await client.acquire({ name: "m-wait", ttl: ms(5000) });
    const contended = await client.acquire({ name: "m-wait", wait: ms(300) });
    expect(contended.acquired).toBe(false);
    const waiting = client.acquire({ name: "m-wait", wait: ms(5000), ttl: ms(5000) });
    await new Promise((r) => setTimeout(r, 200));
    await client.release({ name: "m-wait", leaseId: held.lease!.leaseId });
    expect((await waiting).acquired).toBe(true);

    const s = await scrape(running.sidecar.adminPort);
    expect(s.value("lock_acquire_wait_seconds_count", { outcome: "contended" })).toBe(1);
    expect(s.value("lock_acquire_wait_seconds_sum", { outcome: "contended" })).toBeGreaterThanOrEqual(0.25);
    expect(s.value("lock_acquire_wait_seconds_count", { outcome: "acquired" })).toBe(1);
    expect(s.value("lock_acquire_wait_seconds_sum", { outcome: "acquired" })).toBeGreaterThanOrEqual(0.15);
    // A wait of 300 ms (plus a last attempt) lies above the 0.25 s bucket and within the 1 s one.
    expect(s.value("lock_acquire_wait_seconds_bucket", { outcome: "contended", le: "0.25" })).toBe(0);
    expect(s.value("lock_acquire_wait_seconds_bucket", { outcome: "contended", le: "1" })).toBe(1);
  });

  it("tracks KeepAlive streams, renewals and lost leases", async () => {
    const { running, prefix } = await setUp();
    const { lease } = await running.client.acquire({ name: "m-kept", ttl: ms(1000) });
    const before = await scrape(running.sidecar.adminPort);
    const stream = running.client.keepAlive({ name: "m-kept", leaseId: lease!.leaseId, ttl: ms(1000) });
    const messages: KeepAliveResponse[] = [];
    stream.on("data", (m: KeepAliveResponse) => messages.push(m));
    const ended = new Promise<ServiceError | undefined>((resolve) => {
      stream.on("error", (e: ServiceError) => resolve(e));
      stream.on("end", () => resolve(undefined));
    });
    await eventually(() => messages.length >= 3, 3000, "three renewals");
    const during = await scrape(running.sidecar.adminPort);
    expect(during.value("lock_keepalive_streams_open")).toBe(1);
    const renewals = during.value("lock_keepalive_renewals_total") - before.value("lock_keepalive_renewals_total");
    // Counted before each message is written: at most one is still on its way.
    expect(renewals).toBeGreaterThanOrEqual(3);
    expect(renewals).toBeLessThanOrEqual(messages.length + 1);

    await Promise.all(redis.map((r) => r.set(`${prefix}lock:m-kept`, "someone-else")));
    expect((await ended)?.code).toBe(status.FAILED_PRECONDITION);
    await eventually(
      async () => (await scrape(running.sidecar.adminPort)).value("lock_keepalive_streams_open") === 0,
      2000,
      "stream closed",
    );
    const after = await scrape(running.sidecar.adminPort);
    expect(
      after.value("lock_leases_lost_total", { reason: "not_held" }) -
        before.value("lock_leases_lost_total", { reason: "not_held" }),
    ).toBe(1);
    expect(after.value("lock_leases_lost_total", { reason: "unconfirmed" })).toBe(0);
    expect(after.value("lock_leases_held")).toBe(0);
  });

  it("answers /healthz always and flips /readyz and the instance gauges when a majority is killed", async () => {
    const { running, servers } = await setUp();
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);
    expect((await get("/nothing-here")).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${running.sidecar.adminPort}/readyz`, { method: "POST" })).status).toBe(405);

    await servers.kill(0);
    await servers.kill(1);
    await eventually(async () => (await get("/readyz")).status === 503, 3000, "/readyz 503");
    expect(await (await get("/readyz")).text()).toMatch(/1 of 3 instances reachable \(need 2\)/);
    expect((await get("/healthz")).status).toBe(200);
    const down = await scrape(running.sidecar.adminPort);
    expect(down.value("lock_quorum_available")).toBe(0);
    expect(down.value("lock_instance_up", { instance: servers.urls[0]! })).toBe(0);
    expect(down.value("lock_instance_up", { instance: servers.urls[1]! })).toBe(0);
    expect(down.value("lock_instance_up", { instance: servers.urls[2]! })).toBe(1);
    expect(down.value("lock_instance_errors_total", { instance: servers.urls[0]! })).toBeGreaterThan(0);
    const status = (await (await get("/status")).json()) as {
      serving: boolean;
      instances: { name: string; up: boolean }[];
    };
    expect(status).toEqual({
      serving: false,
      quorum: 2,
      reachable: 1,
      instances: servers.urls.map((name, i) => expect.objectContaining({ name, up: i === 2 })),
    });

    await servers.startOne(0);
    await eventually(async () => (await get("/readyz")).status === 200, 5000, "/readyz 200 again");
    const up = await scrape(running.sidecar.adminPort);
    expect(up.value("lock_quorum_available")).toBe(1);
    expect(up.value("lock_instance_up", { instance: servers.urls[0]! })).toBe(1);
  });

  it("shows callers waiting, and counts releases handed straight to a waiter", async () => {
    // A waiter between two of its own attempts is not offering a handover:
    // with a long fallback delay it waits on its offer all along, so the
    // release below meets the offer whatever the machine's timing.
    const { running, prefix } = await setUp({ retryDelayMs: 5000, retryJitterMs: 0, waitTicketTtlMs: 30_000 });
    const { client } = running;
    const port = running.sidecar.adminPort;
    const handovers = (s: Samples, outcome: string) => s.value("lock_handovers_total", { outcome });
    const before = await scrape(port);
    expect(before.value("lock_waiters")).toBe(0);
    const held = await client.acquire({ name: "m-handover", ttl: ms(10_000) });
    const waiting = client.acquire({ name: "m-handover", ttl: ms(10_000), wait: ms(10_000) });
    await eventually(async () => (await scrape(port)).value("lock_waiters") === 1, 5000, "one waiter");
    // Once subscribed (and past the look it takes right after), the waiter waits for a release.
    await eventually(
      async () => (await redis[0]!.pubsub("NUMSUB", `${prefix}released:m-handover`))[1] === 1,
      5000,
      "subscription",
    );
    await new Promise((r) => setTimeout(r, 200));
    await client.release({ name: "m-handover", leaseId: held.lease!.leaseId });
    const got = await waiting;
    expect(got.acquired).toBe(true);
    const after = await scrape(port);
    expect(handovers(after, "granted") - handovers(before, "granted")).toBe(1);
    expect(handovers(after, "not_granted") - handovers(before, "not_granted")).toBe(0);
    expect(after.value("lock_waiters")).toBe(0);
    await client.release({ name: "m-handover", leaseId: got.lease!.leaseId });
  });

  it("answers /readyz 503 while shutting down", async () => {
    // Two paused instances (a majority) make an acquire in flight wait out
    // the (long) instance timeout, and the shutdown waits for it to land.
    const { running, servers } = await setUp({ instanceTimeoutMs: 1500, minTtlMs: 3000 });
    servers.pause(0);
    try {
      expect((await get("/readyz")).status).toBe(200);
      servers.pause(1);
      const inFlight = running.client.acquire({ name: "m-shutdown", ttl: ms(10_000) }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      const stopped = running.sidecar.stop();
      const response = await get("/readyz");
      expect(response.status).toBe(503);
      expect(await response.text()).toMatch(/shutting down/);
      expect((await scrape(running.sidecar.adminPort)).value("lock_quorum_available")).toBe(0);
      expect((await get("/healthz")).status).toBe(200);
      servers.resume(0);
      servers.resume(1);
      await stopped;
      await inFlight;
      running.client.close();
    } finally {
      servers.resume(0);
      servers.resume(1);
    }
    // Closed with the sidecar.
    await expect(get("/healthz")).rejects.toThrow();
  });
});
