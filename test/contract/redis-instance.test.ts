import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { RedisInstance } from "../../src/instances/redis-instance.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { describeLockInstanceContract } from "./lock-instance-contract.ts";

/** The Lua scripts on a real redis-server, held to the contract the in-process store meets. */
let servers: RedisServers;
/** A plain client, to store what no LockInstance call stores: a key without expiry. */
let raw: Redis;
let cases = 0;

beforeAll(async () => {
  servers = await RedisServers.start(1);
  raw = new Redis(servers.urls[0]!, { lazyConnect: true });
  await raw.connect();
});

afterAll(async () => {
  raw?.disconnect();
  await servers?.stopAll();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeLockInstanceContract("RedisInstance on redis-server", async () => {
  const instance = new RedisInstance(servers.urls[0]!, { commandTimeoutMs: 2000, connectTimeoutMs: 2000 });
  await instance.waitUntilConnected(2000);
  return {
    instance,
    // Each case on its own names: the server is shared by the whole file.
    prefix: `contract-${cases++}:`,
    elapse: sleep,
    // Pub/sub on loopback arrives within a few ms; cases wait for what they expect.
    settle: () => sleep(10),
    wallMs: () => Date.now(),
    putWithoutExpiry: async (key, value) => {
      await raw.set(key, value);
    },
    close: () => instance.close(),
  };
});
