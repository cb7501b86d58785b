import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServers, type InstanceServers } from "../support/instance-servers.ts";

/** The integration harness's faults do what the fault tests assume, in either mode (process or container). */
describe("instance servers (test harness)", () => {
  let servers: InstanceServers;
  const clients: Redis[] = [];
  const connect = (url: string): Redis => {
    const redis = new Redis(url, { maxRetriesPerRequest: 0, commandTimeout: 300, retryStrategy: () => 50 }).on(
      "error",
      () => undefined,
    );
    clients.push(redis);
    return redis;
  };

  beforeAll(async () => {
    servers = await startServers(2);
  });
  afterAll(async () => {
    clients.forEach((c) => c.disconnect());
    await servers?.stopAll();
  });

  it(`serves on loopback URLs`, async () => {
    expect(servers.urls).toHaveLength(2);
    for (const url of servers.urls) {
      expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(await connect(url).ping()).toBe("PONG");
    }
  });

  it("kill loses the data; startOne brings the instance back empty at the same URL", async () => {
    const url = servers.urls[0]!;
    const before = connect(url);
    await before.set("harness:key", "v");
    await servers.kill(0);
    await expect(before.ping()).rejects.toThrow();
    await servers.startOne(0);
    expect(servers.urls[0]).toBe(url);
    const after = connect(url);
    expect(await after.ping()).toBe("PONG");
    expect(await after.get("harness:key")).toBeNull();
  });

  it("pause stops answers without closing connections; resume restores them", async () => {
    const redis = connect(servers.urls[1]!);
    await redis.set("harness:paused", "v");
    await servers.pause(1);
    try {
      await expect(redis.get("harness:paused")).rejects.toThrow(/timed out/i);
    } finally {
      await servers.resume(1);
    }
    const fresh = connect(servers.urls[1]!);
    expect(await fresh.get("harness:paused")).toBe("v");
  });
});
