import { status, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import type { SidecarOptions } from "../../src/config/options.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

/** Instance faults on real redis-server processes: SIGKILL, SIGSTOP, SCRIPT FLUSH. */
describe("LockService under instance faults", () => {
  const cluster = useCluster();
  const redis = cluster.redis;
  const setUp = (count: number, options: Partial<SidecarOptions> = {}) => cluster.start({ count, options });

  const errorOf = (call: Promise<unknown>): Promise<ServiceError | undefined> =>
    call.then(
      () => undefined,
      (e: unknown) => e as ServiceError,
    );

  for (const [count, down] of [
    [3, [2]],
    [5, [0, 3]],
  ] as const) {
    it(`works with ${down.length} of ${count} instances down`, async () => {
      const { running, servers } = await setUp(count);
      for (const i of down) await servers.kill(i);
      const { acquired, lease } = await running.client.acquire({ name: "minority-down", ttl: ms(2000) });
      expect(acquired).toBe(true);
      expect((await running.client.acquire({ name: "minority-down" })).acquired).toBe(false);
      await running.client.extend({ name: "minority-down", leaseId: lease!.leaseId, ttl: ms(2000) });
      expect((await running.client.release({ name: "minority-down", leaseId: lease!.leaseId })).released).toBe(true);
    });
  }

  it("answers UNAVAILABLE (not acquired=false) when a majority is down, and health says NOT_SERVING", async () => {
    const { running, servers } = await setUp(3);
    await servers.kill(0);
    await servers.kill(1);
    const error = await errorOf(running.client.acquire({ name: "majority-down", ttl: ms(1000) }));
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toMatch(/only 1 of 3 instances answered \(need 2\)/);
    // Waiting does not turn an outage into contention either.
    const waited = await errorOf(running.client.acquire({ name: "majority-down", wait: ms(300) }));
    expect(waited?.code).toBe(status.UNAVAILABLE);
    await eventually(() => !running.sidecar.health.serving, 3000, "NOT_SERVING");
    await servers.startOne(0);
    await eventually(() => running.sidecar.health.serving, 5000, "SERVING again");
    const { acquired } = await running.client.acquire({ name: "majority-down", ttl: ms(1000) });
    expect(acquired).toBe(true);
  });

  it("answers UNAVAILABLE to every caller queued here during an outage, not only to the head", async () => {
    const { running, servers } = await setUp(3);
    const name = "queued-outage";
    // Behind a head: a waiter, then a caller without a wait.
    const calls = async (): Promise<{ head: unknown; queued: unknown; noWait: unknown }> => {
      const outcome = (wait: number | undefined): Promise<unknown> =>
        running.client.acquire({ name, ttl: ms(1000), ...(wait === undefined ? {} : { wait: ms(wait) }) }).then(
          (r) => ({ acquired: r.acquired }),
          (e: ServiceError) => status[e.code],
        );
      const head = outcome(1000);
      await new Promise((r) => setTimeout(r, 50));
      const queued = outcome(400);
      await new Promise((r) => setTimeout(r, 50));
      const noWait = outcome(undefined);
      return { head: await head, queued: await queued, noWait: await noWait };
    };
    // Held by a majority: contention for all three.
    const holder = await running.client.acquire({ name, ttl: ms(10_000) });
    expect(await calls()).toEqual({
      head: { acquired: false },
      queued: { acquired: false },
      noWait: { acquired: false },
    });
    await running.client.release({ name, leaseId: holder.lease!.leaseId });
    // Every instance refuses connections: an outage for all three.
    await Promise.all([0, 1, 2].map((i) => servers.kill(i)));
    expect(await calls()).toEqual({ head: "UNAVAILABLE", queued: "UNAVAILABLE", noWait: "UNAVAILABLE" });
  });

  it("waits out a split vote with an instance down at the retry pace, not in a hot loop", async () => {
    // The default pace: a pause of 100 to 200 ms between attempts.
    const { running, servers, prefix } = await setUp(3, { retryDelayMs: 100, retryJitterMs: 100 });
    const name = "split-vote";
    // A holder's lease granted on instances 0 and 2; instance 1 never had it.
    await redis[0]!.set(`${prefix}lock:${name}`, "someone-else", "PX", 10_000);
    await redis[2]!.set(`${prefix}lock:${name}`, "someone-else", "PX", 10_000);
    // An existing counter counts up by one per grant: instance 1's grants are the waiter's attempts.
    await redis[1]!.set(`${prefix}fence:${name}`, "1000");
    await servers.kill(2);
    const startedAt = Date.now();
    const result = await running.client.acquire({ name, ttl: ms(1000), wait: ms(1500) });
    const seconds = (Date.now() - startedAt) / 1000;
    expect(result.acquired).toBe(false);
    const attempts = Number(await redis[1]!.get(`${prefix}fence:${name}`)) - 1000;
    // 5 to 10 a second at this pace; the hot loop made about 150.
    expect(attempts).toBeGreaterThan(0);
    expect(attempts / seconds).toBeLessThan(30);
  });

  it("treats paused (SIGSTOPped) instances as timeouts, bounded by the instance timeout", async () => {
    const { running, servers } = await setUp(3, { instanceTimeoutMs: 80 });
    servers.pause(0);
    try {
      const started = Date.now();
      const { acquired, lease } = await running.client.acquire({ name: "paused", ttl: ms(2000) });
      expect(acquired).toBe(true);
      expect(Date.now() - started).toBeLessThan(1000);
      servers.pause(1);
      const error = await errorOf(running.client.extend({ name: "paused", leaseId: lease!.leaseId, ttl: ms(2000) }));
      expect(error?.code).toBe(status.UNAVAILABLE);
    } finally {
      servers.resume(0);
      servers.resume(1);
    }
  });

  it("rolls back partial acquisitions when the caller's deadline cuts an attempt short", async () => {
    const { running, servers, prefix } = await setUp(3, { instanceTimeoutMs: 600, minTtlMs: 1200 });
    // Instance 0 hangs: every attempt waits its full timeout while 1 and 2 grant.
    servers.pause(0);
    try {
      const error = await errorOf(
        running.client.acquire({ name: "cut-short", ttl: ms(5000) }, { deadline: Date.now() + 200 }),
      );
      expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
      // The attempt finishes in the background and must roll back its writes on 1 and 2.
      await eventually(
        async () =>
          (await Promise.all([1, 2].map((i) => redis[i]!.exists(`${prefix}lock:cut-short`)))).every((n) => n === 0),
        3000,
        "rollback of the partial lock",
      );
    } finally {
      servers.resume(0);
    }
    // The rollback reached the paused instance too, once it answered again.
    await eventually(
      async () => (await redis[0]!.exists(`${prefix}lock:cut-short`)) === 0,
      3000,
      "rollback on instance 0",
    );
  });

  it("ends a KeepAlive stream with FAILED_PRECONDITION when a majority stops answering", async () => {
    const { running, servers } = await setUp(3, { instanceTimeoutMs: 50 });
    const { lease } = await running.client.acquire({ name: "lost", ttl: ms(600) });
    const stream = running.client.keepAlive({ name: "lost", leaseId: lease!.leaseId, ttl: ms(600) });
    const messages: KeepAliveResponse[] = [];
    stream.on("data", (m: KeepAliveResponse) => messages.push(m));
    const ended = new Promise<ServiceError | undefined>((resolve) => {
      stream.on("error", (e: ServiceError) => resolve(e));
      stream.on("end", () => resolve(undefined));
    });
    await eventually(() => messages.length >= 2, 2000, "renewals");
    const lostAt = Date.now();
    await servers.kill(0);
    await servers.kill(1);
    const error = await ended;
    expect(error?.code).toBe(status.FAILED_PRECONDITION);
    // It ends by the last reported expiry, plus scheduling slack on a loaded 2-core machine.
    const lastExpiry =
      Number(messages[messages.length - 1]!.lease!.expiresAt!.seconds) * 1000 +
      messages[messages.length - 1]!.lease!.expiresAt!.nanos / 1e6;
    expect(Date.now()).toBeLessThan(lastExpiry + 750);
    expect(Date.now() - lostAt).toBeLessThan(1000);
  });

  it("ends a KeepAlive stream with FAILED_PRECONDITION when the lease is taken away", async () => {
    const { running, prefix } = await setUp(3);
    const { lease } = await running.client.acquire({ name: "stolen", ttl: ms(900) });
    const stream = running.client.keepAlive({ name: "stolen", leaseId: lease!.leaseId, ttl: ms(900) });
    stream.on("data", () => undefined);
    const ended = new Promise<ServiceError | undefined>((resolve) => {
      stream.on("error", (e: ServiceError) => resolve(e));
      stream.on("end", () => resolve(undefined));
    });
    await Promise.all(redis.map((r) => r.set(`${prefix}lock:stolen`, "someone-else")));
    expect((await ended)?.code).toBe(status.FAILED_PRECONDITION);
    // The other holder's keys were not touched by the cleanup.
    expect(await Promise.all(redis.map((r) => r.get(`${prefix}lock:stolen`)))).toEqual([
      "someone-else",
      "someone-else",
      "someone-else",
    ]);
  });

  it("recovers from NOSCRIPT after the instances' script caches are flushed", async () => {
    const { running } = await setUp(3);
    const first = await running.client.acquire({ name: "flushed", ttl: ms(1000) });
    await Promise.all(redis.map((r) => r.script("FLUSH")));
    expect((await running.client.release({ name: "flushed", leaseId: first.lease!.leaseId })).released).toBe(true);
    expect((await running.client.acquire({ name: "flushed", ttl: ms(1000) })).acquired).toBe(true);
  });

  it("keeps fencing tokens increasing after a minority instance restarts empty", async () => {
    const { running, servers } = await setUp(3);
    const tokens: bigint[] = [];
    const cycle = async (): Promise<void> => {
      const { lease } = await running.client.acquire({ name: "restart", ttl: ms(1000) });
      tokens.push(lease!.fencingToken);
      await running.client.release({ name: "restart", leaseId: lease!.leaseId });
    };
    await cycle();
    await cycle();
    await servers.kill(2);
    await cycle();
    await servers.startOne(2);
    await eventually(async () => (await running.sidecar.engine.reachableCount()) === 3, 5000, "instance 2 back");
    await cycle();
    await cycle();
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
  });
});
