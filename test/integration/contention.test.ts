import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SidecarOptions } from "../../src/config/options.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { scriptCalls } from "../support/sidecar-cluster.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

/**
 * Waiting for a held lock: release notices over pub/sub, the local FIFO
 * queue, and waiting tickets that keep newcomers from overtaking older
 * waiters of other sidecars. Fallback delays are set long (seconds) so that
 * only a notice can explain a quick handoff.
 */
describe("contention", () => {
  let servers: RedisServers;
  let redis: Redis[];
  const running: Running[] = [];
  let prefix: string;

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    redis = servers.urls.map((url) => new Redis(url));
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.stop()));
  });

  afterAll(async () => {
    redis?.forEach((r) => r.disconnect());
    await servers?.stopAll();
  });

  /** Sidecars sharing the instances and the key prefix, as in one deployment. */
  async function sidecars(count: number, overrides: Partial<SidecarOptions> = {}): Promise<Running[]> {
    prefix = `contention-${Math.random().toString(36).slice(2, 8)}:`;
    const started = await Promise.all(
      Array.from({ length: count }, () =>
        runSidecar(testOptions({ instances: servers.urls, keyPrefix: prefix, ...overrides })),
      ),
    );
    running.push(...started);
    return started;
  }

  it("hands a released lock to a waiter of another sidecar at once, not after the fallback delay", async () => {
    const [a, b] = await sidecars(2, { retryDelayMs: 10_000, retryJitterMs: 0, waitTicketTtlMs: 60_000 });
    const held = await a!.client.acquire({ name: "handoff", ttl: ms(30_000) });
    const waiting = b!.client.acquire({ name: "handoff", ttl: ms(5000), wait: ms(20_000) });
    // Let the waiter fail once and subscribe.
    await eventually(
      async () => (await redis[0]!.pubsub("NUMSUB", `${prefix}released:handoff`))[1] === 1,
      5000,
      "subscription",
    );
    const releasedAt = Date.now();
    await a!.client.release({ name: "handoff", leaseId: held.lease!.leaseId });
    const got = await waiting;
    expect(got.acquired).toBe(true);
    // Far below the 10 s fallback: the notice woke it.
    expect(Date.now() - releasedAt).toBeLessThan(2000);
  });

  it("serves waiters of one sidecar in arrival order", async () => {
    const [a] = await sidecars(1, { retryDelayMs: 10_000, retryJitterMs: 0, waitTicketTtlMs: 60_000 });
    const first = await a!.client.acquire({ name: "fifo", ttl: ms(30_000) });
    const order: number[] = [];
    const waiters = [1, 2, 3, 4, 5].map(async (n) => {
      await new Promise((r) => setTimeout(r, n * 40));
      const got = await a!.client.acquire({ name: "fifo", ttl: ms(30_000), wait: ms(20_000) });
      order.push(n);
      await a!.client.release({ name: "fifo", leaseId: got.lease!.leaseId });
    });
    await new Promise((r) => setTimeout(r, 400));
    await a!.client.release({ name: "fifo", leaseId: first.lease!.leaseId });
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3, 4, 5]);
  });

  it("hands the lock from caller to caller of one sidecar with one script call per instance each time", async () => {
    const [a] = await sidecars(1, { retryDelayMs: 10_000, retryJitterMs: 0, waitTicketTtlMs: 60_000 });
    // Warm up: the first use of a script costs an EVALSHA and an EVAL (NOSCRIPT).
    const warm = await a!.client.acquire({ name: "warm", ttl: ms(30_000) });
    const warmWaiter = a!.client.acquire({ name: "warm", ttl: ms(30_000), wait: ms(20_000) });
    await new Promise((r) => setTimeout(r, 200));
    await a!.client.release({ name: "warm", leaseId: warm.lease!.leaseId });
    await a!.client.release({ name: "warm", leaseId: (await warmWaiter).lease!.leaseId });

    const first = await a!.client.acquire({ name: "chain", ttl: ms(30_000) });
    const waiters = [1, 2, 3, 4, 5].map(async (n) => {
      await new Promise((r) => setTimeout(r, n * 20));
      const got = await a!.client.acquire({ name: "chain", ttl: ms(30_000), wait: ms(20_000) });
      await a!.client.release({ name: "chain", leaseId: got.lease!.leaseId });
    });
    await eventually(
      async () => (await redis[0]!.pubsub("NUMSUB", `${prefix}released:chain`))[1] === 1,
      5000,
      "subscription",
    );
    await new Promise((r) => setTimeout(r, 300)); // every waiter queued
    const before = await Promise.all(redis.map(scriptCalls));
    const startedAt = Date.now();
    await a!.client.release({ name: "chain", leaseId: first.lease!.leaseId });
    await Promise.all(waiters);
    // Five handovers (each release to the next waiter) and the last plain release; no attempts.
    const after = await Promise.all(redis.map(scriptCalls));
    expect(after.map((n, i) => n - before[i]!)).toEqual([6, 6, 6]);
    expect(Date.now() - startedAt).toBeLessThan(5000); // far below one 10 s fallback
  });

  it("makes a newcomer respect an older waiter of another sidecar even when the lock is free", async () => {
    const [a, b, c] = await sidecars(3, { retryDelayMs: 600, retryJitterMs: 0, waitTicketTtlMs: 60_000 });
    const held = await a!.client.acquire({ name: "fair", ttl: ms(30_000) });
    const waiting = b!.client.acquire({ name: "fair", ttl: ms(5000), wait: ms(20_000) });
    await eventually(async () => (await redis[0]!.hlen(`${prefix}queue:fair`)) === 1, 5000, "b's ticket");
    // The holder's keys vanish without an announcement, as an expiry does.
    await Promise.all(redis.map((r) => r.del(`${prefix}lock:fair`)));
    const newcomer = await c!.client.acquire({ name: "fair", ttl: ms(5000) });
    expect(newcomer.acquired).toBe(false);
    const got = await waiting;
    expect(got.acquired).toBe(true);
    expect(got.lease!.fencingToken).toBeGreaterThan(held.lease!.fencingToken);
    // Granted tickets are withdrawn by the acquire script itself (the slowest instance's a moment after the answer).
    await eventually(
      async () => (await Promise.all(redis.map((r) => r.hlen(`${prefix}queue:fair`)))).every((n) => n === 0),
      2000,
      "tickets withdrawn",
    );
  });

  it("lets a ticket whose waiter died block newcomers only until the ticket expires", async () => {
    const [a] = await sidecars(1, { retryDelayMs: 20, retryJitterMs: 0, waitTicketTtlMs: 60_000 });
    const time = await redis[0]!.time();
    const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    // A dead sidecar's ticket, enqueued long ago (it sorts first), expiring in 700 ms.
    await Promise.all(redis.map((r) => r.hset(`${prefix}queue:orphan`, "000000000000000-dead", String(nowMs + 700))));
    expect((await a!.client.acquire({ name: "orphan", ttl: ms(5000) })).acquired).toBe(false);
    const started = Date.now();
    const got = await a!.client.acquire({ name: "orphan", ttl: ms(5000), wait: ms(10_000) });
    expect(got.acquired).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    // Dropped by the script that ran on that instance, which may answer after the majority did.
    await eventually(
      async () => (await redis[0]!.hexists(`${prefix}queue:orphan`, "000000000000000-dead")) === 0,
      2000,
      "expired ticket dropped",
    );
  });

  it("withdraws the ticket and the subscription when the last waiter gives up or is cancelled", async () => {
    const [a, b] = await sidecars(2, { retryDelayMs: 50, retryJitterMs: 0 });
    const held = await a!.client.acquire({ name: "give-up", ttl: ms(30_000) });
    const timedOut = await b!.client.acquire({ name: "give-up", ttl: ms(5000), wait: ms(300) });
    expect(timedOut.acquired).toBe(false);
    await eventually(
      async () => (await Promise.all(redis.map((r) => r.hlen(`${prefix}queue:give-up`)))).every((n) => n === 0),
      2000,
      "ticket withdrawn",
    );

    // A deadline shorter than the wait: the answer comes before it, not acquired.
    const cutShort = await b!.client.acquire(
      { name: "give-up", ttl: ms(5000), wait: ms(20_000) },
      { deadline: Date.now() + 400 },
    );
    expect(cutShort.acquired).toBe(false);
    await eventually(
      async () => (await Promise.all(redis.map((r) => r.hlen(`${prefix}queue:give-up`)))).every((n) => n === 0),
      2000,
      "ticket withdrawn after deadline",
    );
    // No subscription outlives the waiters that needed it.
    await eventually(
      async () =>
        (await Promise.all(redis.map((r) => r.pubsub("NUMSUB", `${prefix}released:give-up`)))).every((r) => r[1] === 0),
      6000,
      "unsubscribed",
    );
    await a!.client.release({ name: "give-up", leaseId: held.lease!.leaseId });
  });

  it("spreads grants over 8 waiters on 2 sidecars without starving anyone", async () => {
    const [a, b] = await sidecars(2);
    const grants = new Map<string, number>();
    let busyUntil = Date.now() + 1500;
    const worker = async (client: Running["client"], id: string): Promise<void> => {
      while (Date.now() < busyUntil) {
        const got = await client.acquire({ name: "spread", ttl: ms(5000), wait: ms(5000) });
        if (!got.acquired) continue;
        grants.set(id, (grants.get(id) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 3));
        await client.release({ name: "spread", leaseId: got.lease!.leaseId });
      }
    };
    await Promise.all([0, 1, 2, 3].flatMap((i) => [worker(a!.client, `a${i}`), worker(b!.client, `b${i}`)]));
    busyUntil = 0;
    const counts = [...grants.values()];
    expect(counts.length).toBe(8);
    // Round-robin across sidecars and FIFO within each: nobody far behind the others.
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(Math.max(...counts) / 2);
  });
});
