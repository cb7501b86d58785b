import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import type { Announcement, LockKeys } from "../../src/instances/lock-instance.ts";
import { RedisInstance } from "../../src/instances/redis-instance.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { acquiring, grantedFence, refusedTtl, waiting } from "./contract-subject.ts";
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

/**
 * What a lock cycle costs the server, counted as issue 18 counts it: every
 * command run, the script call and the commands inside it. A change that
 * adds a command to the path nobody waits on fails here, not only in the bench.
 */
describe("RedisInstance: commands per call on redis-server", () => {
  let instance: RedisInstance;
  beforeAll(async () => {
    instance = new RedisInstance(servers.urls[0]!, { commandTimeoutMs: 2000, connectTimeoutMs: 2000 });
    await instance.waitUntilConnected(2000);
  });
  afterAll(() => instance?.close());

  /** Commands the server ran during `work`: the INFO that reads the count before is counted after it. */
  async function commandsDuring(work: () => Promise<unknown>): Promise<number> {
    const processed = async (): Promise<number> =>
      Number(/^total_commands_processed:(\d+)/m.exec(await raw.info("stats"))?.[1]);
    const before = await processed();
    await work();
    return (await processed()) - before - 1;
  }

  const announce = (keys: LockKeys, tag: string): Announcement => ({
    channel: keys.channel,
    tag,
    queueKey: keys.queue,
  });

  it("a free lock nobody waits for: 5 to acquire (with or without a ticket, with its holder), 4 to release with its announcement", async () => {
    const keys = lockKeys(`counted-${cases++}:`, "job");
    // The first grant creates the counter and caches the scripts: not counted.
    grantedFence(await instance.acquire(acquiring(keys, "s0")));
    expect(await instance.release(keys.lock, "s0", announce(keys, "t0"))).toBe(true);
    // EVALSHA, HGETALL, SET, INCR, PEXPIRE.
    expect(await commandsDuring(async () => grantedFence(await instance.acquire(waiting(keys, "s1", "0001-w"))))).toBe(
      5,
    );
    // EVALSHA, GET, DEL, HGETALL: no TIME, no PUBLISH.
    expect(await commandsDuring(() => instance.release(keys.lock, "s1", announce(keys, "t1")))).toBe(4);
    expect(await commandsDuring(async () => grantedFence(await instance.acquire(acquiring(keys, "s2"))))).toBe(5);
    expect(await commandsDuring(() => instance.release(keys.lock, "s2"))).toBe(3);
  });

  it("a new counter: INCR, TIME and SET in place of INCR and PEXPIRE", async () => {
    const keys = lockKeys(`counted-${cases++}:`, "job");
    grantedFence(await instance.acquire(acquiring(lockKeys(`counted-${cases++}:`, "warm"), "s0")));
    expect(await commandsDuring(async () => grantedFence(await instance.acquire(acquiring(keys, "s1"))))).toBe(6);
  });

  it("a newer waiter reads the clock to judge the older ticket; the oldest one's grant does not", async () => {
    const keys = lockKeys(`counted-${cases++}:`, "job");
    grantedFence(await instance.acquire(acquiring(keys, "holder")));
    refusedTtl(await instance.acquire(waiting(keys, "w", "0001-w")));
    refusedTtl(await instance.acquire(waiting(keys, "x", "0002-x")));
    expect(await instance.release(keys.lock, "holder")).toBe(true);
    // EVALSHA, HGETALL, TIME, HSET, PEXPIRE, PTTL.
    expect(await commandsDuring(async () => refusedTtl(await instance.acquire(waiting(keys, "x", "0002-x"))))).toBe(6);
    // EVALSHA, HGETALL, SET, HDEL of its ticket, INCR, PEXPIRE.
    expect(await commandsDuring(async () => grantedFence(await instance.acquire(waiting(keys, "w", "0001-w"))))).toBe(
      6,
    );
  });

  it("reading a lock for Describe: PTTL, GET, GET and HGETALL, and TIME only when tickets wait", async () => {
    const keys = lockKeys(`counted-${cases++}:`, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    await instance.readLock(keys);
    // EVALSHA, PTTL, GET (lock), GET (counter), HGETALL.
    expect(await commandsDuring(() => instance.readLock(keys))).toBe(5);
    refusedTtl(await instance.acquire(waiting(keys, "w", "0001-w")));
    expect(await commandsDuring(() => instance.readLock(keys))).toBe(6);
  });

  it("a release someone waits for announces: HGETALL, TIME and PUBLISH after GET and DEL", async () => {
    const keys = lockKeys(`counted-${cases++}:`, "job");
    grantedFence(await instance.acquire(acquiring(keys, "s1")));
    refusedTtl(await instance.acquire(waiting(keys, "w", "0001-w")));
    expect(await commandsDuring(() => instance.release(keys.lock, "s1", announce(keys, "t1")))).toBe(6);
  });
});
