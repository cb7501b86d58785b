/**
 * A grant read late must not slip past the restart witnesses (docs/design.md,
 * "Restarted instances", When). S1 (a child process, LOCK_INSTANCE_TIMEOUT
 * 50 ms) asks R, A, B for "L"; R grants at once, S1's path to A stalls (a
 * partition that heals), B is unreachable from S1, and S1's event loop is
 * held 3 s. R restarts empty; S2 (this process) notices, scans the witnesses
 * A and B, finds nothing, and counts R again. Then S1's SET lands on A, and
 * S2 grants "L" with {R, B}. S1 reads R's and A's grants 3 s after sending:
 * later than the answer limit, so it must not count them. Counting every
 * late-read answer (as the first fix for stalled event loops did) gave two
 * holders.
 */
import { fork } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { TcpProxy } from "../chaos/tcp-proxy.ts";
import { freePort, RedisServers } from "../support/redis-servers.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

const CHILD = new URL("../support/stalled-sidecar-child.ts", import.meta.url).pathname;

describe("a grant read late by a stalled sidecar, and a restart noticed meanwhile", () => {
  let servers: RedisServers | undefined;
  let s2: Running | undefined;
  let proxyA: TcpProxy | undefined;
  let child: ReturnType<typeof fork> | undefined;

  afterAll(async () => {
    child?.kill("SIGKILL");
    await s2?.stop();
    await proxyA?.close();
    await servers?.stopAll();
  });

  it("is not counted: one holder of the lock, not two", async () => {
    servers = await RedisServers.start(3); // 0 = R, 1 = A, 2 = B
    const options = testOptions({
      instances: servers.urls,
      restartQuarantine: "on",
      instanceTimeoutMs: 50,
      minTtlMs: 100,
      maxTtlMs: 30_000,
    });
    s2 = await runSidecar(options);
    const guards = () => s2!.sidecar.engine.instances as unknown as { state(): string }[];
    await eventually(() => guards().every((g) => g.state() === "ok"), 5000, "S2 identified all");
    // "L" was used before: its fencing counters agree on every instance, so a grant needs no raise.
    const before = await s2.client.acquire({ name: "L", ttl: ms(1000) });
    await s2.client.release({ name: "L", leaseId: before.lease!.leaseId });
    proxyA = await TcpProxy.start(servers.ports[1]!);
    const dead = await freePort();
    child = fork(
      CHILD,
      [servers.urls[0]!, `redis://127.0.0.1:${proxyA.port}`, `redis://127.0.0.1:${dead}`, options.keyPrefix, "3000"],
      { stdio: ["ignore", "inherit", "inherit", "ipc"] },
    );
    const messages: any[] = [];
    child.on("message", (m) => messages.push(m));
    await eventually(() => messages.some((m) => m.ready), 10_000, "S1 ready");

    proxyA.setMode({ kind: "blackhole" }); // S1 -> A stalls from now on
    child.send({ go: true, name: "L", ttlMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100)); // R has granted S1 by now
    await servers.kill(0);
    await servers.startOne(0); // R restarts empty
    await eventually(() => guards()[0]!.state() === "quarantined", 3000, "S2 notices R's restart");
    await eventually(() => guards()[0]!.state() === "ok", 3000, "S2 counts R again (witnessed)");
    const basis = (guards()[0] as any).guarded?.quarantineBasis?.();
    proxyA.setMode({ kind: "pass" }); // the partition heals: S1's SET lands on A now
    const landedWall = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    const s2Start = Date.now();
    const second = await s2.client.acquire({ name: "L", ttl: ms(5000) });
    const s2EndWall = s2Start + 5000;

    await eventually(() => messages.some((m) => "acquired" in m), 10_000, "S1's answer");
    const first = messages.find((m) => "acquired" in m);
    const direct = servers.urls.map((u) => new Redis(u));
    const values = await Promise.all(direct.map((d) => d.get(`${options.keyPrefix}lock:L`)));
    direct.forEach((d) => d.disconnect());
    const seen = {
      quarantineBasis: basis,
      s1: first,
      s1SetOnAafterStartMs: landedWall - first.startWall,
      s2Acquired: second.acquired,
      overlapMs: second.acquired && first.acquired ? Math.min(first.toldEndWallMs, s2EndWall) - first.doneWall : 0,
      keyOnR_A_B: values.map((v) => (v ? v.slice(0, 8) : v)),
    };
    expect(second.acquired, JSON.stringify(seen)).toBe(true);
    // The safety property: never two holders.
    expect(first.acquired && second.acquired, JSON.stringify(seen)).toBe(false);
  });
});
