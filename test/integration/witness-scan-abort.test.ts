/**
 * A witness's scan on a real redis-server sends no more SCANs once its
 * caller gave up (docs/design.md, "Restarted instances", The scan). It used
 * to page through every lock key after the restart witnesses stopped
 * waiting for it: about 100 SCANs and 100 scripts per 100,000 keys, for
 * nobody. SCANs are counted from the server's INFO commandstats.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisInstance } from "../../src/instances/redis-instance.ts";
import { lockKeyPattern, RestartWitnesses } from "../../src/instances/restart-witnesses.ts";
import { systemClock } from "../../src/util/clock.ts";
import { RedisServers } from "../support/redis-servers.ts";

const PREFIX = "scan-abort:";
/** 30 SCAN pages of 1,000. */
const KEYS = 30_000;

let servers: RedisServers;
let raw: Redis;
let instance: RedisInstance;

beforeAll(async () => {
  servers = await RedisServers.start(1);
  raw = new Redis(servers.urls[0]!, { lazyConnect: true });
  await raw.connect();
  const pipeline = raw.pipeline();
  for (let i = 0; i < KEYS; i++) pipeline.set(`${PREFIX}lock:n${i}`, "s", "PX", 600_000);
  await pipeline.exec();
  instance = new RedisInstance(servers.urls[0]!, { commandTimeoutMs: 2000, connectTimeoutMs: 2000 });
  await instance.waitUntilConnected(2000);
});

afterAll(async () => {
  await instance?.close();
  raw?.disconnect();
  await servers?.stopAll();
});

/** SCANs the server has run so far. */
async function scans(): Promise<number> {
  return Number(/^cmdstat_scan:calls=(\d+)/m.exec(await raw.info("commandstats"))?.[1] ?? 0);
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("RedisInstance.longestTtlMs, once its caller gave up", () => {
  it("sends no SCAN after the one already sent when the signal aborts", async () => {
    const before = await scans();
    const gaveUp = new AbortController();
    const scanning = instance.longestTtlMs(lockKeyPattern(PREFIX), gaveUp.signal);
    gaveUp.abort();
    await expect(scanning).rejects.toThrow();
    await pause(200);
    expect((await scans()) - before).toBe(1);
  });

  it("stops when the restart witnesses stop waiting for it (scan timeout)", async () => {
    const witnesses = new RestartWitnesses(
      { count: 1, quorum: 1, lockPattern: lockKeyPattern(PREFIX), instanceTimeoutMs: 1, scanTimeoutMs: 1 },
      systemClock,
    );
    witnesses.register({
      name: instance.name,
      canWitness: () => true,
      connectionEpoch: () => instance.connectionEpoch(),
      longestTtlMs: (pattern, signal) => instance.longestTtlMs(pattern, signal),
    });
    const before = await scans();
    expect((await witnesses.boundFor("restarted")).kind).toBe("unknown");
    const atGiveUp = await scans();
    await pause(500);
    // The SCAN in flight when the caller gave up may still be counted after it; no other.
    expect((await scans()) - atGiveUp).toBeLessThanOrEqual(1);
    expect(atGiveUp - before).toBeLessThan(KEYS / 1000);
  });
});
