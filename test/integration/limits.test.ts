import { status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisServers } from "../support/redis-servers.ts";
import { ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

/** Configured limits refuse with RESOURCE_EXHAUSTED naming the limit and its setting, and nothing else breaks. */
describe("limits", () => {
  let servers: RedisServers;
  let running: Running;

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    running = await runSidecar(testOptions({ instances: servers.urls, maxLeases: 3, maxStreams: 1, maxWaiters: 1 }));
  });

  afterAll(async () => {
    await running?.stop();
    await servers?.stopAll();
  });

  const errorOf = (call: Promise<unknown>) =>
    call.then(
      () => undefined,
      (e: ServiceError) => e,
    );

  it("caps leases held, waiters and KeepAlive streams", async () => {
    const { client } = running;
    const a = await client.acquire({ name: "limit-a", ttl: ms(5000) });
    const b = await client.acquire({ name: "limit-b", ttl: ms(5000) });
    const c = await client.acquire({ name: "limit-c", ttl: ms(5000) });
    const fourth = await errorOf(client.acquire({ name: "limit-d", ttl: ms(5000) }));
    expect(fourth?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(fourth?.details).toMatch(/holds 3 leases.*\(LOCK_MAX_LEASES\)/);

    // Releases free room (a waiting acquire counts toward the lease limit too).
    await client.release({ name: "limit-b", leaseId: b.lease!.leaseId });
    await client.release({ name: "limit-c", leaseId: c.lease!.leaseId });
    const waiter = client.acquire({ name: "limit-a", ttl: ms(5000), wait: ms(2000) });
    await new Promise((r) => setTimeout(r, 100));
    const second = await errorOf(client.acquire({ name: "limit-a", ttl: ms(5000), wait: ms(2000) }));
    expect(second?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(second?.details).toMatch(/1 acquires are already waiting.*\(LOCK_MAX_WAITERS\)/);

    const stream = client.keepAlive({ name: "limit-a", leaseId: a.lease!.leaseId, ttl: ms(5000) });
    stream.on("data", () => undefined);
    stream.on("error", () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const extra = client.keepAlive({ name: "limit-a", leaseId: a.lease!.leaseId, ttl: ms(5000) });
    const refused = await new Promise<ServiceError>((resolve) => extra.on("error", resolve));
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/1 KeepAlive streams .*\(LOCK_MAX_STREAMS\)/);

    // The first stream still keeps its lease; closing it releases, and the waiter gets the lock.
    stream.cancel();
    expect((await waiter).acquired).toBe(true);
  });

  it("refuses a KeepAlive for a lease new to a full sidecar, and keeps the one it granted", async () => {
    const full = await runSidecar(testOptions({ instances: servers.urls, maxLeases: 1 }));
    try {
      const own = (await full.client.acquire({ name: "full-own", ttl: ms(5000) })).lease!;
      const stranger = (await running.client.acquire({ name: "full-stranger", ttl: ms(5000) })).lease!;
      const firstOf = (stream: NodeJS.EventEmitter) =>
        new Promise<unknown>((resolve) => {
          stream.once("data", resolve);
          stream.once("error", resolve);
        });
      const refused = (await firstOf(
        full.client.keepAlive({ name: "full-stranger", leaseId: stranger.leaseId, ttl: ms(5000) }),
      )) as ServiceError;
      expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(refused.details).toMatch(/holds 1 leases.*\(LOCK_MAX_LEASES\)/);
      const kept = full.client.keepAlive({ name: "full-own", leaseId: own.leaseId, ttl: ms(5000) });
      expect(await firstOf(kept)).toMatchObject({ lease: { name: "full-own" } });
      kept.cancel();
      await running.client.release({ name: "full-stranger", leaseId: stranger.leaseId });
    } finally {
      await full.stop();
    }
  });
});
