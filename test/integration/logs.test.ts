import { status, type ServiceError } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";
import { TOLERANT } from "../support/tolerant-timeouts.ts";

const PASSWORD = "s3cret-pass";

/** The JSON log lines, captured in memory: one per state change, never a lease id or a password. */
describe("logs", () => {
  const cluster = useCluster();
  const redis = cluster.redis;

  it("logs lease loss, instance down/up and shutdown without lease ids or passwords", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
    const { running, servers, prefix } = await cluster.start({
      serverArgs: ["--requirepass", PASSWORD],
      urls: (s) => s.ports.map((port) => `redis://:${PASSWORD}@127.0.0.1:${port}`),
      options: TOLERANT,
      deps: { logger },
    });
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
    await Promise.all(redis.map((r) => r.set(`${prefix}lock:logged`, "someone-else")));
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
    // The reason in our words, not ioredis' ("Stream isn't writeable and enableOfflineQueue options is false").
    const reason = new RegExp(
      `^(not connected to|connection refused by|connection reset by) ${instance.replace(/[/.]/g, "\\$&")}$`,
    );
    expect(records().filter((r) => r["msg"] === "instance down")).toEqual([
      expect.objectContaining({ level: 40, instance, reason: expect.stringMatching(reason) }),
    ]);
    expect(records().filter((r) => r["msg"] === "instance up")).toEqual([
      expect.objectContaining({ level: 30, instance }),
    ]);

    // Stopped here to read the shutdown lines; stopping again after the test is a no-op.
    await running.stop();
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
    const { running, servers } = await cluster.start({
      serverArgs: ["--requirepass", PASSWORD],
      urls: (s) => s.ports.map((port) => `redis://default:${PASSWORD}@127.0.0.1:${port}`),
      options: TOLERANT,
    });
    const base = `http://127.0.0.1:${running.sidecar.adminPort}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const statusText = await (await fetch(`${base}/status`)).text();
    expect(metrics).toContain(`lock_instance_up{instance="redis://127.0.0.1:${servers.ports[0]}"} 1`);
    expect(statusText).toContain(`"name":"redis://127.0.0.1:${servers.ports[0]}"`);
    expect(metrics).not.toContain(PASSWORD);
    expect(statusText).not.toContain(PASSWORD);
  });
});
