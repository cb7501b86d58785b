import type { ClientReadableStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HoldResponse } from "../../gen/lock/v1/lock_pb.ts";
import { Locks } from "../../src/client/index.ts";
import { Samples } from "../support/prometheus-text.ts";
import { Redis } from "ioredis";
import { RedisServers } from "../support/redis-servers.ts";
import { ms, type Running, runSidecar, testOptions } from "../support/sidecar-fixture.ts";

/**
 * Many short holds on one connection. Node's HTTP/2 server closes a
 * connection whose client resets more than ~1,000 streams in a burst (then
 * 33 a second): a client that ended every hold by cancelling its stream lost
 * the connection, and every call on it, after about a thousand holds.
 */
const PREFIX = `churn-${process.pid}:`;

describe("holds in quick succession on one connection", () => {
  let servers: RedisServers;
  let running: Running;

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    running = await runSidecar(testOptions({ instances: servers.urls, keyPrefix: PREFIX }));
  });

  afterAll(async () => {
    await running?.stop();
    await servers?.stopAll();
  });

  it("1,500 holds ended by Release (the TypeScript client's way) keep the connection", async () => {
    const { client } = running;
    const errors: string[] = [];
    const cycle = async (name: string) => {
      const call: ClientReadableStream<HoldResponse> = client.hold({ name, ttl: ms(10_000) });
      const ended = new Promise<void>((resolve) => {
        call.on("error", (e) => {
          if (!/CANCELLED|Cancelled/.test(String(e))) errors.push(String(e));
          resolve();
        });
        call.on("end", () => resolve());
      });
      const first = await new Promise<HoldResponse | undefined>((resolve) => {
        call.once("data", resolve);
        call.once("error", () => resolve(undefined));
      });
      if (!first?.lease) return;
      await client.release({ name, leaseId: first.lease.leaseId });
      call.cancel();
      await ended;
    };
    const worker = async (w: number) => {
      for (let i = 0; i < 1500 / 8; i++) await cycle(`churn-${w}`).catch((e) => errors.push(String(e)));
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    expect(errors.slice(0, 3)).toEqual([]);
  }, 60_000);

  it("and through the TypeScript client's Locks.hold", async () => {
    const locks = new Locks({ address: running.sidecar.address });
    try {
      const worker = async (w: number) => {
        for (let i = 0; i < 1500 / 8; i++) await locks.hold(`churn-ts-${w}`, { ttl: "10s" }, async () => i);
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    } finally {
      locks.close();
    }
  }, 60_000);
  it("a KeepAlive or Hold stream whose lease is released through Release ends OK at once, counted released", async () => {
    const { client } = running;
    const statusOf = (call: NodeJS.EventEmitter) =>
      new Promise<{ code: number; atMs: number }>((resolve) =>
        call.on("status", (s: { code: number }) => resolve({ code: s.code, atMs: performance.now() })),
      );
    const held = (await client.acquire({ name: "kept-released", ttl: ms(10_000) })).lease!;
    const kept = client.keepAlive({ name: "kept-released", leaseId: held.leaseId, ttl: ms(10_000) });
    kept.on("data", () => undefined);
    const keptEnd = statusOf(kept);
    const hold = client.hold({ name: "hold-released", ttl: ms(10_000) });
    const holdEnd = statusOf(hold);
    const granted = await new Promise<HoldResponse>((resolve) => hold.once("data", resolve));
    await new Promise((r) => setTimeout(r, 100));
    const releasedAt = performance.now();
    await client.release({ name: "kept-released", leaseId: held.leaseId });
    await client.release({ name: "hold-released", leaseId: granted.lease!.leaseId });
    for (const end of [await keptEnd, await holdEnd]) {
      expect(end.code).toBe(0);
      expect(end.atMs - releasedAt).toBeLessThan(2000);
    }
    const metrics = new Samples((await running.sidecar.metrics.exposition()).text);
    expect(metrics.value("lock_requests_total", { rpc: "keep_alive", outcome: "released" })).toBe(1);
    expect(metrics.value("lock_requests_total", { rpc: "hold", outcome: "released" })).toBeGreaterThanOrEqual(1);
  });
  it("a TypeScript Lease whose lease someone else releases through Release learns it is revoked, the lock free", async () => {
    const locks = new Locks({ address: running.sidecar.address });
    const redis = new Redis(servers.urls[0]!);
    try {
      const held = locks.hold("revoked-by-release", { ttl: "10s" }, async (lease) => {
        // Another caller with the lease id (made of the secret in the key's value and the token).
        const secret = (await redis.get(`${PREFIX}lock:revoked-by-release`))!.split(" ")[0];
        const leaseId = `${secret}.${lease.fencingToken}`;
        expect((await running.client.release({ name: "revoked-by-release", leaseId })).released).toBe(true);
        // Often aborted already: the stream ends as the Release is answered.
        if (!lease.signal.aborted) {
          await new Promise((resolve) => lease.signal.addEventListener("abort", resolve, { once: true }));
        }
      });
      // hold() reports the loss the callback ran into.
      await expect(held).rejects.toMatchObject({ reason: "revoked", message: /released through Release/ });
    } finally {
      redis.disconnect();
      locks.close();
    }
  });
});
