import { spawn, type ChildProcess } from "node:child_process";
import { status, type ServiceError } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { LockClient } from "../../src/client/lock-client.ts";
import { freePort, RedisServers } from "../support/redis-servers.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

/** `npm start` as users run it: a real process, configured by environment and flags, stopped by signals. */
describe("the sidecar process", () => {
  const procs: ChildProcess[] = [];
  let servers: RedisServers | undefined;

  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
    await servers?.stopAll();
  });

  function start(
    env: Record<string, string>,
    args: string[] = [],
  ): { proc: ChildProcess; output: () => string; exited: Promise<number | null> } {
    // A free admin port: the default 0.0.0.0:9090 would collide across parallel test files.
    const proc = spawn(process.execPath, ["src/main.ts", ...args], {
      env: { ...process.env, LOCK_ADMIN_LISTEN: "127.0.0.1:0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    procs.push(proc);
    let output = "";
    proc.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    proc.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    return { proc, output: () => output, exited };
  }

  it("starts on the embedded default with a loud warning and serves locks", async () => {
    const port = await freePort();
    const { output } = start({ LOCK_INSTANCES: "" }, ["--listen", `127.0.0.1:${port}`]);
    await eventually(() => output().includes("sidecar listening"), 10_000, "start-up");
    expect(output()).toMatch(/embedded in-process store.*only exclusive among clients of THIS sidecar process/);
    const client = new LockClient(`127.0.0.1:${port}`);
    try {
      const first = await client.acquire({ name: "embedded", ttl: ms(2000) });
      expect(first.acquired).toBe(true);
      expect((await client.acquire({ name: "embedded" })).acquired).toBe(false);
    } finally {
      client.close();
    }
  });

  it("refuses to start on invalid configuration, naming the setting", async () => {
    const { output, exited } = start({ LOCK_DEFAULT_TTL: "ten seconds" });
    expect(await exited).toBe(2);
    expect(output()).toMatch(/LOCK_DEFAULT_TTL.*"ten seconds" is not a duration/);
    const second = start({ LOCK_INSTANCES: "http://user:hunter2@127.0.0.1:1" });
    expect(await second.exited).toBe(2);
    expect(second.output()).toMatch(/LOCK_INSTANCES.*not a redis:\/\/ or rediss:\/\/ URL/);
    expect(second.output()).not.toContain("hunter2");
  });

  it("after a pause longer than the TTL, ends KeepAlive with FAILED_PRECONDITION instead of renewing", async () => {
    servers = await RedisServers.start(3);
    const port = await freePort();
    const { proc, output } = start({
      LOCK_INSTANCES: servers.urls.join(","),
      LOCK_LISTEN: `127.0.0.1:${port}`,
      LOCK_MIN_TTL: "100ms",
    });
    await eventually(() => output().includes("sidecar listening"), 10_000, "start-up");
    const client = new LockClient(`127.0.0.1:${port}`);
    try {
      const { lease } = await client.acquire({ name: "paused", ttl: ms(600) });
      const stream = client.keepAlive({ name: "paused", leaseId: lease!.leaseId, ttl: ms(600) });
      const expiries: number[] = [];
      stream.on("data", (m: { lease?: { expiresAt?: { seconds: bigint; nanos: number } } }) =>
        expiries.push(Number(m.lease!.expiresAt!.seconds) * 1000 + m.lease!.expiresAt!.nanos / 1e6),
      );
      const ended = new Promise<number>((resolve) => {
        stream.on("error", (e: ServiceError) => resolve(e.code));
        stream.on("end", () => resolve(status.OK));
      });
      await eventually(() => expiries.length >= 2, 3000, "renewals");
      proc.kill("SIGSTOP");
      const pausedAt = Date.now();
      await new Promise((r) => setTimeout(r, 1500));
      const seenBeforeResume = expiries.length;
      proc.kill("SIGCONT");
      expect(await ended).toBe(status.FAILED_PRECONDITION);
      // Nothing renewed after the wake-up, and no lease reported valid past the pause.
      expect(expiries.length).toBe(seenBeforeResume);
      expect(Math.max(...expiries)).toBeLessThan(pausedAt + 600);
      // Another client can take the lock: nobody still holds it.
      expect((await client.acquire({ name: "paused", ttl: ms(600) })).acquired).toBe(true);
    } finally {
      client.close();
    }
  });

  it("on SIGTERM ends KeepAlive streams, leaves held leases to run out at the ends their owners were told, and exits 0", async () => {
    servers = await RedisServers.start(3);
    const port = await freePort();
    const prefix = "sigterm-test:";
    const { proc, output, exited } = start({
      LOCK_INSTANCES: servers.urls.join(","),
      LOCK_LISTEN: `127.0.0.1:${port}`,
      LOCK_KEY_PREFIX: prefix,
    });
    await eventually(() => output().includes("sidecar listening"), 10_000, "start-up");
    const client = new LockClient(`127.0.0.1:${port}`);
    const redis = servers.urls.map((u) => new Redis(u));
    try {
      const kept = await client.acquire({ name: "kept", ttl: ms(30_000) });
      const plain = await client.acquire({ name: "plain", ttl: ms(30_000) });
      expect(kept.acquired && plain.acquired).toBe(true);
      const stream = client.keepAlive({ name: "kept", leaseId: kept.lease!.leaseId, ttl: ms(30_000) });
      stream.on("data", () => undefined);
      const ended = new Promise<{ code: number; details: string }>((resolve) => {
        stream.on("error", (e: ServiceError) => resolve({ code: e.code, details: e.details }));
        stream.on("end", () => resolve({ code: status.OK, details: "" }));
      });
      await new Promise((r) => setTimeout(r, 200));
      proc.kill("SIGTERM");
      const end = await ended;
      expect(end.code).toBe(status.UNAVAILABLE);
      expect(end.details).toMatch(/no longer renewed and runs out at the last expires_at/);
      expect(await exited).toBe(0);
      // A shutdown is not the owners asking: both leases are still held, until their TTLs.
      const left = await Promise.all(
        redis.flatMap((r) => [r.pttl(`${prefix}lock:kept`), r.pttl(`${prefix}lock:plain`)]),
      );
      for (const pttl of left) expect(pttl).toBeGreaterThan(20_000);
      for (const pttl of left) expect(pttl).toBeLessThanOrEqual(30_000);
      expect(output()).toMatch(/"msg":"shut down"/);
    } finally {
      client.close();
      redis.forEach((r) => r.disconnect());
    }
  });
});
