import { status, type ServiceError } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import type { EvictionGuard } from "../../src/instances/eviction-guard.ts";
import type { GuardedInstance } from "../../src/instances/guarded-instance.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

/** Restart quarantine and circuit breaking against real redis-server processes. */
describe("instance guard", () => {
  let servers: RedisServers | undefined;
  let running: Running | undefined;

  afterEach(async () => {
    await running?.stop();
    await servers?.stopAll();
    running = undefined;
    servers = undefined;
  });

  const guards = (r: Running) => r.sidecar.engine.instances as GuardedInstance[];

  /**
   * A holds "split" on instances 0 and 1 only (a short-lived foreign key
   * blocks instance 2), then instance 0 crashes and restarts empty: A's
   * lease lives on instance 1 alone, and instances 0 and 2 could form a
   * majority for someone else while A's lease is valid.
   */
  async function leaseOnBareMajorityThenRestart(
    r: Running,
    s: RedisServers,
    prefix: string,
    ttlMs: number,
  ): Promise<void> {
    const direct = new Redis(s.urls[2]!);
    await direct.set(`${prefix}lock:split`, "someone-else", "PX", 300);
    direct.disconnect();
    const a = await r.client.acquire({ name: "split", ttl: ms(ttlMs) });
    expect(a.acquired).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await s.kill(0);
    await s.startOne(0);
    await eventually(() => guards(r)[0]!.connectionEpoch() > 1, 5000, "reconnect to instance 0");
  }
  const codeOf = (call: Promise<unknown>) =>
    call.then(
      () => status.OK,
      (e: ServiceError) => e.code,
    );

  it("keeps a restarted instance out of quorums until a lease it forgot has ended, so it cannot be granted twice", async () => {
    servers = await RedisServers.start(3);
    // Long enough that the steps below run well within A's lease, even on a busy machine.
    const options = testOptions({
      instances: servers.urls,
      restartQuarantine: "on",
      maxTtlMs: 4000,
      defaultTtlMs: 1000,
    });
    running = await runSidecar(options);
    const { client } = running;
    await leaseOnBareMajorityThenRestart(running, servers, options.keyPrefix, 4000);
    await eventually(() => guards(running!)[0]!.state() === "quarantined", 5000, "quarantine of instance 0");
    // Visible to operators: metrics and /status say which instance sits out.
    const metrics = (await running.sidecar.metrics.exposition()).text;
    expect(metrics).toContain(`lock_instance_quarantined{instance="redis://127.0.0.1:${servers.ports[0]}"} 1`);
    expect(metrics).toContain(`lock_instance_quarantined{instance="redis://127.0.0.1:${servers.ports[1]}"} 0`);
    // Without quarantine instances 0 and 2 would form a majority for B while A's lease is valid.
    const b = await client.acquire({ name: "split", ttl: ms(1000) }).catch((e: ServiceError) => e);
    expect("acquired" in b ? b.acquired : b.code).not.toBe(true);
    // After the quarantine every lease the restart forgot has expired: votes count again.
    await eventually(() => guards(running!)[0]!.state() === "ok", 10_000, "end of quarantine");
    // Bounded by the witnesses: the lease's end, not LOCK_MAX_TTL after the restart.
    expect((guards(running)[0] as unknown as EvictionGuard).guarded?.quarantineBasis()).toBe("witnessed");
    expect((await client.acquire({ name: "split", ttl: ms(1000) })).acquired).toBe(true);
  });

  it("a sidecar that first meets the instances after one restarted holds it out too, when it started well after the others", async () => {
    servers = await RedisServers.start(3);
    const options = testOptions({
      instances: servers.urls,
      restartQuarantine: "on",
      maxTtlMs: 8000,
      defaultTtlMs: 1000,
      freshStartWindowMs: 0,
    });
    running = await runSidecar(options);
    // Uptimes come in whole seconds: let the instances age so that the
    // restarted one clearly started later (more than the 2 s slack).
    await new Promise((resolve) => setTimeout(resolve, 3500));
    await leaseOnBareMajorityThenRestart(running, servers, options.keyPrefix, 8000);

    // Sidecars that never saw instance 0's previous run (say, just restarted with their pod).
    const fresh = await runSidecar(options);
    try {
      await eventually(
        () => guards(fresh)[0]!.state() === "quarantined",
        5000,
        "late starter held out on first contact",
      );
      expect(guards(fresh)[1]!.state()).toBe("ok");
      const b = await fresh.client.acquire({ name: "split", ttl: ms(1000) }).catch((e: ServiceError) => e);
      expect("acquired" in b ? b.acquired : b.code).not.toBe(true);
    } finally {
      await fresh.stop();
    }
    // What the rule prevents: a window wide enough to take the restart for a
    // deployment grants A's lock to a second holder while A's lease is valid.
    const trusting = await runSidecar({ ...options, freshStartWindowMs: 3_600_000 });
    try {
      await eventually(() => guards(trusting)[0]!.state() === "ok", 5000, "identity checked");
      expect((await trusting.client.acquire({ name: "split", ttl: ms(1000) })).acquired).toBe(true);
    } finally {
      await trusting.stop();
    }
  });

  it("with quarantine off, the same sequence grants the lock twice (what the quarantine prevents)", async () => {
    servers = await RedisServers.start(3);
    const options = testOptions({ instances: servers.urls, restartQuarantine: "off", maxTtlMs: 5000 });
    running = await runSidecar(options);
    await leaseOnBareMajorityThenRestart(running, servers, options.keyPrefix, 5000);
    await eventually(() => guards(running!)[0]!.state() === "ok", 5000, "identity checked");
    // A's lease is valid for seconds more, yet B is granted it too.
    const b = await running.client.acquire({ name: "split", ttl: ms(1000) });
    expect(b.acquired).toBe(true);
  });

  it("opens the circuit of an instance that keeps timing out and closes it once it answers", async () => {
    servers = await RedisServers.start(3);
    running = await runSidecar(
      testOptions({ instances: servers.urls, instanceTimeoutMs: 60, circuitFailures: 2, circuitProbeIntervalMs: 50 }),
    );
    const { client } = running;
    servers.pause(1);
    try {
      // Two failures spanning at least the probe interval open it.
      for (let i = 0; i < 3; i++) await client.acquire({ name: `circuit-${i}`, ttl: ms(1000) });
      expect(guards(running)[1]!.state()).toBe("circuit-open");
      // Skipped fast: a call no longer waits for the paused instance's timeout.
      const started = performance.now();
      for (let i = 0; i < 5; i++)
        expect((await client.acquire({ name: `fast-${i}`, ttl: ms(1000) })).acquired).toBe(true);
      expect((performance.now() - started) / 5).toBeLessThan(60);
    } finally {
      servers.resume(1);
    }
    await eventually(() => guards(running!)[1]!.state() === "ok", 5000, "circuit closed");
    expect(await codeOf(client.acquire({ name: "after", ttl: ms(1000) }))).toBe(status.OK);
  });
});
