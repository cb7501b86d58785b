import { afterAll, beforeAll, describe } from "vitest";
import { lockKeys } from "../../src/engine/keys.ts";
import { RedisInstance } from "../../src/instances/redis-instance.ts";
import { handoverContract } from "../support/handover-contract.ts";
import { RedisServers } from "../support/redis-servers.ts";

/** The HANDOVER Lua script on a real redis-server, held to the contract MemoryInstance and the fake meet. */
describe("RedisInstance handover script", () => {
  let servers: RedisServers;
  const instances: RedisInstance[] = [];
  let n = 0;

  beforeAll(async () => {
    servers = await RedisServers.start(1);
  });

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.close()));
    await servers?.stopAll();
  });

  handoverContract(async () => {
    const instance = new RedisInstance(servers.urls[0]!, { commandTimeoutMs: 2000, connectTimeoutMs: 2000 });
    instances.push(instance);
    await instance.waitUntilConnected(2000);
    // Pub/sub delivery on loopback takes well under this; the contract's positive checks prove it arrived.
    const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100));
    return { instance, keys: lockKeys(`handover-${process.pid}-${n++}:`, "job"), settle };
  });
});
