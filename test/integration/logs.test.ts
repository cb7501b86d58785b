import { status, type ServiceError } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { RedisServers } from "../support/redis-servers.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";
import { TOLERANT } from "../support/tolerant-timeouts.ts";

const PASSWORD = "s3cret-pass";

/** The JSON log lines, captured in memory: one per state change, never a lease id or a password. */
describe("logs", () => {
  let servers: RedisServers | undefined;
  let running: Running | undefined;
  const redis: Redis[] = [];

  afterEach(async () => {
    await running?.stop();
    redis.splice(0).forEach((r) => r.disconnect());
    await servers?.stopAll();
    running = undefined;
    servers = undefined;
  });

  it("logs lease loss, instance down/up and shutdown without lease ids or passwords", async () => {
    servers = await RedisServers.start(3, ["--requirepass", PASSWORD]);
    const urls = servers.ports.map((port) => `redis://:${PASSWORD}@127.0.0.1:${port}`);
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
    const options = testOptions({ instances: urls, ...TOLERANT });
    running = await runSidecar(options, { logger });
    await eventually(() => running!.sidecar.health.serving, 5000, "quorum");
    redis.push(...urls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }).on("error", () => undefined)));
    const { client } = running;
    const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

    // A lease kept alive, then taken away behind the sidecar's back.
    const { lease } = await client.acquire({ name: "logged", ttl: ms(1000) });
    const leaseId = lease!.leaseId;
    const stream = client.keepAlive({ name: "logged", leaseId, ttl: ms(1000) });
    stream.on("data", () => undefined);
    const ended = new Promise<number>((resolve) => {
      stream.on("error", (e: ServiceError) => resolve(e.code));
      stream.on("end", () => resolve(status.OK));
    });
    await new Promise((r) => setTimeout(r, 100));
    await Promise.all(redis.map((r) => r.set(`${options.keyPrefix}lock:logged`, "someone-else")));
    expect(await ended).toBe(status.FAILED_PRECONDITION);
    // The lost lease id keeps being used, as a confused client would.
    await client.extend({ name: "logged", leaseId, ttl: ms(1000) }).catch(() => undefined);
    await client.release({ name: "logged", leaseId });
    await client.release({ name: "other", leaseId: `${leaseId}x` }).catch(() => undefined);

    await eventually(() => records().some((r) => r["msg"] === "lease lost: keepalive ended"), 2000, "lease-lost line");
    expect(records().filter((r) => r["msg"] === "lease lost: keepalive ended")).toEqual([
      expect.objectContaining({ level: 40, lock: "logged", reason: "not_held" }),
    ]);

    // One line per instance state change, found by the health probe.
    await servers.kill(1);
    await eventually(() => records().some((r) => r["msg"] === "instance down"), 3000, "instance down line");
    await servers.startOne(1);
    await eventually(() => records().some((r) => r["msg"] === "instance up"), 5000, "instance up line");
    const instance = `redis://127.0.0.1:${servers.ports[1]}`;
    expect(records().filter((r) => r["msg"] === "instance down")).toEqual([expect.objectContaining({ level: 40, instance })]);
    expect(records().filter((r) => r["msg"] === "instance up")).toEqual([expect.objectContaining({ level: 30, instance })]);

    await running.stop();
    running = undefined;
    const messages = records().map((r) => r["msg"]);
    expect(messages).toContain("shutting down");
    expect(messages).toContain("shut down");

    const all = lines.join("");
    const secret = leaseId.slice(0, leaseId.indexOf("."));
    expect(secret.length).toBeGreaterThanOrEqual(16);
    expect(all).not.toContain(secret);
    expect(all).not.toContain(PASSWORD);
  });

  it("names instances without credentials in /metrics and /status", async () => {
    servers = await RedisServers.start(3, ["--requirepass", PASSWORD]);
    const urls = servers.ports.map((port) => `redis://default:${PASSWORD}@127.0.0.1:${port}`);
    running = await runSidecar(testOptions({ instances: urls, ...TOLERANT }));
    await eventually(() => running!.sidecar.health.serving, 5000, "quorum");
    const base = `http://127.0.0.1:${running.sidecar.adminPort}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const statusText = await (await fetch(`${base}/status`)).text();
    expect(metrics).toContain(`lock_instance_up{instance="redis://127.0.0.1:${servers.ports[0]}"} 1`);
    expect(statusText).toContain(`"name":"redis://127.0.0.1:${servers.ports[0]}"`);
    expect(metrics).not.toContain(PASSWORD);
    expect(statusText).not.toContain(PASSWORD);
  });
});
