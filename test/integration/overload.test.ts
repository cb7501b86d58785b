import { status, type ServiceError } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { Samples } from "../support/prometheus-text.ts";
import { ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

/**
 * A sidecar whose load signals say it is behind refuses new work with
 * RESOURCE_EXHAUSTED naming the cause, and keeps renewing the leases it holds.
 */
describe("overload", () => {
  let servers: RedisServers;
  let overloaded: Running;
  let other: Running;
  let redis: Redis;
  const load = { renewalLagMs: 0, eventLoopDelayMs: 0, heapShare: 0.1 };
  const settleMs = 1500;
  const prefix = `overload-${process.pid}:`;

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    redis = new Redis(servers.urls[0]!);
    const options = testOptions({ instances: servers.urls, keyPrefix: prefix, overloadLagMs: 100 });
    overloaded = await runSidecar(
      { ...options, overloadSettleMs: settleMs },
      {
        loadSignals: {
          renewalLagMs: () => load.renewalLagMs,
          eventLoopDelayMs: () => load.eventLoopDelayMs,
          heapShare: () => load.heapShare,
        },
      },
    );
    other = await runSidecar(options);
  });

  afterAll(async () => {
    redis?.disconnect();
    await overloaded?.stop();
    await other?.stop();
    await servers?.stopAll();
  });

  const errorOf = (call: Promise<unknown>) =>
    call.then(
      () => undefined,
      (e: ServiceError) => e,
    );
  /** The first message of a server stream, or the error that ended it. */
  const firstOf = (stream: NodeJS.EventEmitter) =>
    new Promise<unknown>((resolve) => {
      stream.once("data", resolve);
      stream.once("error", resolve);
    });

  it("refuses Acquire, Hold and a KeepAlive for a lease new to it, while streams it keeps go on being renewed", async () => {
    const { client } = overloaded;
    const held = (await client.acquire({ name: "held", ttl: ms(600) })).lease!;
    const renewals: KeepAliveResponse[] = [];
    const errors: unknown[] = [];
    const kept = client.keepAlive({ name: "held", leaseId: held.leaseId, ttl: ms(600) });
    kept.on("data", (m: KeepAliveResponse) => renewals.push(m));
    kept.on("error", (e) => errors.push(e));
    // Granted here before the overload: its stream was admitted with the lease.
    const earlier = (await client.acquire({ name: "earlier", ttl: ms(5000) })).lease!;
    // Granted by another sidecar: new to this one.
    const stranger = (await other.client.acquire({ name: "stranger", ttl: ms(5000) })).lease!;

    load.eventLoopDelayMs = 400;
    const acquire = await errorOf(client.acquire({ name: "new", ttl: ms(5000) }));
    expect(acquire?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(acquire?.details).toMatch(
      /overloaded: the event loop was held up for 400 ms, past LOCK_OVERLOAD_LAG \(100 ms\)/,
    );
    const hold = (await firstOf(client.hold({ name: "new", ttl: ms(5000) }))) as ServiceError;
    expect(hold.code).toBe(status.RESOURCE_EXHAUSTED);
    const strange = client.keepAlive({ name: "stranger", leaseId: stranger.leaseId, ttl: ms(5000) });
    expect(((await firstOf(strange)) as ServiceError).code).toBe(status.RESOURCE_EXHAUSTED);
    const admitted = client.keepAlive({ name: "earlier", leaseId: earlier.leaseId, ttl: ms(5000) });
    expect(await firstOf(admitted)).toMatchObject({ lease: { name: "earlier" } });

    load.eventLoopDelayMs = 0;
    load.renewalLagMs = 250;
    const lagging = await errorOf(client.acquire({ name: "new", ttl: ms(5000) }));
    expect(lagging?.details).toMatch(/renewals of held leases are running 250 ms late/);

    // Six TTLs of refusing new work: the held lease is still renewed and held. Longer than
    // SUSTAINED_MS (3 s), so the settle time applies after it.
    const before = renewals.length;
    await new Promise((r) => setTimeout(r, 3600));
    expect(errors).toEqual([]);
    expect(renewals.length - before).toBeGreaterThanOrEqual(10);
    // The lock key's value: the secret, then the holder recorded with it.
    expect((await redis.get(`${prefix}lock:held`))?.split(" ")[0]).toBe(held.leaseId.split(".")[0]);

    // Caught up: still refused until it has kept up for LOCK_OVERLOAD_SETTLE.
    load.renewalLagMs = 0;
    const settling = await errorOf(client.acquire({ name: "new", ttl: ms(5000) }));
    expect(settling?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(settling?.details).toMatch(/were running 250 ms late [\d.]+ s ago.*LOCK_OVERLOAD_SETTLE \(1500 ms\)/);
    await new Promise((r) => setTimeout(r, settleMs + 100));

    // The heap: refused while too much of its limit is in use.
    load.heapShare = 0.7;
    const full = await errorOf(client.acquire({ name: "new", ttl: ms(5000) }));
    expect(full?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(full?.details).toMatch(/70\.0 % of the heap limit is in use, past LOCK_OVERLOAD_HEAP \(50 %\)/);
    expect(new Samples((await overloaded.sidecar.metrics.exposition()).text).value("lock_overload_heap_ratio")).toBe(
      0.7,
    );
    // Over for less than SUSTAINED_MS: taken again as soon as it is under.
    load.heapShare = 0.1;

    expect((await client.acquire({ name: "new", ttl: ms(5000) })).acquired).toBe(true);
    const metrics = new Samples((await overloaded.sidecar.metrics.exposition()).text);
    expect(metrics.value("lock_overload_refusals_total", { cause: "event_loop_delay" })).toBe(3);
    expect(metrics.value("lock_overload_refusals_total", { cause: "renewal_lag" })).toBe(2);
    expect(metrics.value("lock_overload_refusals_total", { cause: "heap" })).toBe(1);
    expect(metrics.value("lock_renewal_lateness_seconds_count")).toBeGreaterThan(10);
    kept.cancel();
    admitted.cancel();
  });
  it("answers a retried Acquire or Hold whose lease it granted already, while it refuses new work", async () => {
    const { client } = overloaded;
    const first = (await client.acquire({ name: "retried", ttl: ms(5000), requestId: "req-1" })).lease!;
    load.renewalLagMs = 400;
    try {
      // The first answer was lost, say: the retry gets the same lease, which adds none.
      const again = await client.acquire({ name: "retried", ttl: ms(5000), requestId: "req-1" });
      expect(again.lease?.leaseId).toBe(first.leaseId);
      const held = client.hold({ name: "retried", ttl: ms(5000), requestId: "req-1" });
      expect(await firstOf(held)).toMatchObject({ acquired: true, lease: { leaseId: first.leaseId } });
      held.cancel();
      const fresh = await errorOf(client.acquire({ name: "retried-2", ttl: ms(5000), requestId: "req-2" }));
      expect(fresh?.code).toBe(status.RESOURCE_EXHAUSTED);
    } finally {
      load.renewalLagMs = 0;
    }
  });
});
