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
});
