import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisInstance } from "../../src/instances/redis-instance.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { eventually } from "../support/sidecar-fixture.ts";

/** RedisInstance's release subscriptions on a real redis-server. */
describe("RedisInstance release subscriptions", () => {
  let servers: RedisServers;
  let admin: Redis;
  let instance: RedisInstance | undefined;

  beforeAll(async () => {
    servers = await RedisServers.start(1);
    admin = new Redis(servers.urls[0]!);
  });

  afterAll(async () => {
    await instance?.close();
    admin?.disconnect();
    await servers?.stopAll();
  });

  it("a SUBSCRIBE that failed leaves nothing behind: the next watcher of the channel subscribes and hears releases", async () => {
    await admin.call("ACL", "SETUSER", "watcher", "on", ">watcher-pw", "~*", "&*", "+@all", "-subscribe");
    const url = new URL(servers.urls[0]!);
    url.username = "watcher";
    url.password = "watcher-pw";
    instance = new RedisInstance(url.toString(), { commandTimeoutMs: 2000, connectTimeoutMs: 2000 });
    await instance.waitUntilConnected(2000);

    const heard: string[] = [];
    await expect(instance.watchReleases("sub-test", (tag) => heard.push(`first ${tag}`))).rejects.toThrow(
      /NOPERM|permission/i,
    );

    await admin.call("ACL", "SETUSER", "watcher", "+subscribe");
    const unsubscribe = await instance.watchReleases("sub-test", (tag) => heard.push(`second ${tag}`));
    await eventually(async () => (await admin.publish("sub-test", "t1")) === 1, 5000, "a subscriber on the channel");
    await eventually(() => heard.includes("second t1"), 5000, "the notice heard");
    expect(heard.some((h) => h.startsWith("first"))).toBe(false);
    unsubscribe();
  });
});
