import type { ClientReadableStream } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import { RedisInstance } from "../../src/instances/redis-instance.ts";
import { useSharedCluster } from "../support/sidecar-cluster.ts";
import { ms } from "../support/sidecar-fixture.ts";

const TTL_MS = 3000;

/** Wall-clock ms of a lease's expires_at. */
function endOf(message: KeepAliveResponse): number {
  const at = message.lease!.expiresAt!;
  return Number(at.seconds) * 1000 + Math.floor(at.nanos / 1e6);
}

function firstMessage(stream: ClientReadableStream<KeepAliveResponse>): Promise<KeepAliveResponse> {
  return new Promise((resolve, reject) => {
    stream.once("data", resolve);
    stream.once("error", reject);
  });
}

describe("nothing shortens a lease below the end its owner was told", () => {
  const cluster = useSharedCluster({ count: 3, options: { minTtlMs: 100 } });
  const pttls = (name: string): Promise<number[]> =>
    Promise.all(cluster.redis.map((r) => r.pttl(`${cluster.prefix}lock:${name}`)));

  it("a shorter Extend of a kept-alive lease leaves its keys and the stream's end in place", async () => {
    const { client } = cluster.running;
    const granted = await client.acquire({ name: "shorter-extend", ttl: ms(TTL_MS) });
    const stream = client.keepAlive({ name: "shorter-extend", leaseId: granted.lease!.leaseId, ttl: ms(TTL_MS) });
    stream.on("error", () => undefined);
    const toldEndMs = endOf(await firstMessage(stream));

    const extended = await client.extend({ name: "shorter-extend", leaseId: granted.lease!.leaseId, ttl: ms(100) });
    // The Extend reports the end that still stands, not a shorter one.
    const extendedEnd = extended.lease!.expiresAt!;
    expect(Number(extendedEnd.seconds) * 1000 + Math.floor(extendedEnd.nanos / 1e6)).toBeGreaterThanOrEqual(
      toldEndMs - 5,
    );
    for (const pttl of await pttls("shorter-extend")) expect(pttl).toBeGreaterThan(TTL_MS - 1000);
    // Well past the shorter TTL, and before the end told: nobody else gets it.
    await new Promise((r) => setTimeout(r, 300));
    const other = await client.acquire({ name: "shorter-extend", ttl: ms(1000) });
    expect(other.acquired).toBe(false);
    expect(Date.now()).toBeLessThan(toldEndMs);
    stream.cancel();
  });

  it("a second KeepAlive stream with a shorter TTL does not shorten what the first one reported", async () => {
    const { client } = cluster.running;
    const granted = await client.acquire({ name: "second-stream", ttl: ms(TTL_MS) });
    const first = client.keepAlive({ name: "second-stream", leaseId: granted.lease!.leaseId, ttl: ms(TTL_MS) });
    first.on("error", () => undefined);
    const toldEndMs = endOf(await firstMessage(first));
    const second = client.keepAlive({ name: "second-stream", leaseId: granted.lease!.leaseId, ttl: ms(150) });
    second.on("error", () => undefined);
    const secondEndMs = endOf(await firstMessage(second));
    expect(secondEndMs).toBeGreaterThanOrEqual(toldEndMs - 5);
    for (const pttl of await pttls("second-stream")) expect(pttl).toBeGreaterThan(TTL_MS - 1000);
    first.cancel();
    second.cancel();
  });

  it("a KeepAlive whose deadline passes stops renewing and leaves the lease to run out at the end it told", async () => {
    const { client } = cluster.running;
    const granted = await client.acquire({ name: "deadline", ttl: ms(TTL_MS) });
    const stream = client.keepAlive(
      { name: "deadline", leaseId: granted.lease!.leaseId, ttl: ms(TTL_MS) },
      { deadline: Date.now() + 600 },
    );
    let toldEndMs = 0;
    stream.on("data", (m: KeepAliveResponse) => (toldEndMs = Math.max(toldEndMs, endOf(m))));
    const code = await new Promise<number>((resolve) => {
      stream.on("error", (e: { code: number }) => resolve(e.code));
      stream.on("end", () => resolve(0));
    });
    expect(code).toBe(4); // DEADLINE_EXCEEDED
    await new Promise((r) => setTimeout(r, 200));
    // Not released: the deadline is not its owner asking. Still held until the end told.
    const other = await client.acquire({ name: "deadline", ttl: ms(1000) });
    expect(other.acquired).toBe(false);
    expect(Date.now()).toBeLessThan(toldEndMs);
    for (const pttl of await pttls("deadline")) expect(pttl).toBeGreaterThan(1000);
  });

  it("EXTEND on redis-server: a batch renewing one key twice keeps the longer TTL, whatever the order", async () => {
    const { redis, prefix } = cluster;
    const instance = new RedisInstance(cluster.servers.urls[0]!, { commandTimeoutMs: 1000, connectTimeoutMs: 1000 });
    try {
      await instance.waitUntilConnected(2000);
      const lockKey = `${prefix}lock:batch`;
      await redis[0]!.set(lockKey, "secret-0123456789", "PX", 1000);
      const answers = await instance.extend([
        { lockKey, secret: "secret-0123456789", ttlMs: 5000 },
        { lockKey, secret: "secret-0123456789", ttlMs: 200 },
      ]);
      expect(answers).toEqual([true, true]);
      expect(await redis[0]!.pttl(lockKey)).toBeGreaterThan(4000);
      // A shorter renewal alone leaves the key as it is; a longer one lengthens it.
      expect(await instance.extend([{ lockKey, secret: "secret-0123456789", ttlMs: 100 }])).toEqual([true]);
      expect(await redis[0]!.pttl(lockKey)).toBeGreaterThan(4000);
      expect(await instance.extend([{ lockKey, secret: "secret-0123456789", ttlMs: 60_000 }])).toEqual([true]);
      expect(await redis[0]!.pttl(lockKey)).toBeGreaterThan(50_000);
      expect(await instance.extend([{ lockKey, secret: "someone-else-00000", ttlMs: 60_000 }])).toEqual([false]);
    } finally {
      await instance.close();
    }
  });
});
