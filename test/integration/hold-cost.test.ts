import type { ClientReadableStream } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HoldResponse } from "../../gen/lock/v1/lock_pb.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { ms, type Running, runSidecar, testOptions } from "../support/sidecar-fixture.ts";

/**
 * What a lock cycle costs the instances, counted by redis-server itself
 * (total_commands_processed, commands inside scripts included): a Hold that
 * ends as the TypeScript client ends one (Release, then cancel) costs what
 * Acquire and Release cost. Its stream once renewed the lease it had just
 * been granted, at once: 9 more commands on 3 instances.
 */
describe("instance commands per cycle", () => {
  let servers: RedisServers;
  let running: Running;
  let raw: Redis[];

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    raw = servers.urls.map((url) => new Redis(url));
    // No health probes in the count.
    running = await runSidecar(testOptions({ instances: servers.urls, healthIntervalMs: 600_000 }));
  });

  afterAll(async () => {
    for (const r of raw ?? []) r.disconnect();
    await running?.stop();
    await servers?.stopAll();
  });

  /** Commands the instances ran during `cycle`, less the INFO calls that count them. */
  async function commandsOf(cycle: () => Promise<void>): Promise<number> {
    const total = async () => {
      let sum = 0;
      for (const r of raw) sum += Number(/^total_commands_processed:(\d+)/m.exec(await r.info("stats"))?.[1]);
      return sum;
    };
    const before = await total();
    await cycle();
    // Whatever the cycle left running (a renewal, a second release) has time to reach the instances.
    await new Promise((r) => setTimeout(r, 300));
    return (await total()) - before - raw.length;
  }

  const acquireRelease = async (name: string) => {
    const { client } = running;
    const lease = (await client.acquire({ name, ttl: ms(10_000) })).lease!;
    await client.release({ name, leaseId: lease.leaseId });
  };

  const holdRelease = async (name: string) => {
    const { client } = running;
    const call: ClientReadableStream<HoldResponse> = client.hold({ name, ttl: ms(10_000) });
    call.on("error", () => undefined); // the cancel ends it CANCELLED
    const first = await new Promise<HoldResponse>((resolve) => call.once("data", resolve));
    await client.release({ name, leaseId: first.lease!.leaseId });
    call.cancel();
  };

  it("a Hold ended by Release and cancel costs what Acquire and Release cost", async () => {
    // First calls load the scripts and start each name's fencing counter: a name's first lock costs more.
    await acquireRelease("plain");
    await holdRelease("held");
    const plain = await commandsOf(() => acquireRelease("plain"));
    const held = await commandsOf(() => holdRelease("held"));
    expect(plain).toBe(27);
    expect(held).toBe(plain);
  });
});
