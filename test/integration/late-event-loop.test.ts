import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fanOut } from "../../src/engine/fan-out.ts";
import { RedisInstance } from "../../src/instances/redis-instance.ts";
import { TimeoutError } from "../../src/util/abort.ts";
import { RedisServers } from "../support/redis-servers.ts";

/** Holds the event loop, as a burst of new streams or a long garbage collection does. */
function holdEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs on this thread meanwhile
  }
}

/**
 * Calls sent, then the event loop held up past their timeout while the
 * instance answers at once. The answer waits unread in the socket when the
 * late timer fires; it must still count (issue 17: renewal batches were
 * failed this way and leases ran out under load).
 */
describe("an event loop held up past the instance timeout", () => {
  let servers: RedisServers;
  let instance: RedisInstance;

  beforeAll(async () => {
    servers = await RedisServers.start(1);
    instance = new RedisInstance(servers.urls[0]!, { commandTimeoutMs: 20, connectTimeoutMs: 2000 });
    await instance.waitUntilConnected(2000);
    // The script cached first: a NOSCRIPT would cost a second round trip after the hold.
    await instance.extend([{ lockKey: "late:warm", secret: "s", ttlMs: 1000 }]);
  });

  afterAll(async () => {
    await instance?.close();
    await servers?.stopAll();
  });

  it("still counts an answer that arrived in time: a fan-out and the command bound both let it through", async () => {
    const extends_ = fanOut([instance], 20, (i) => i.extend([{ lockKey: "late:a", secret: "s", ttlMs: 1000 }]));
    const direct = instance.extend([{ lockKey: "late:b", secret: "s", ttlMs: 1000 }]);
    // Queued after ioredis' own nextTick, which writes the command: the
    // instance answers while this thread is busy.
    process.nextTick(() => holdEventLoop(150));
    const [answer] = await extends_;
    expect(answer).toEqual({ ok: true, value: [false] });
    expect(await direct).toEqual([false]);
  });

  it("still times out when no answer comes: a paused instance fails within the bound", async () => {
    servers.pause(0);
    try {
      const started = performance.now();
      const [answer] = await fanOut([instance], 20, (i) => i.ping());
      expect(answer?.ok).toBe(false);
      expect((answer as { error: unknown }).error).toBeInstanceOf(TimeoutError);
      await expect(instance.ping()).rejects.toThrow(/did not answer in time/);
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      servers.resume(0);
    }
  });
});
