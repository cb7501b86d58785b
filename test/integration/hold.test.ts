import { connect, createServer, type Server, type Socket } from "node:net";
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { HoldResponse } from "../../gen/lock/v1/lock_pb.ts";
import { LockClient } from "../../src/client/lock-client.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

/** Every message of a Hold stream, and how it ended (status code; 0 for a clean end). */
function record(stream: ClientReadableStream<HoldResponse>): {
  messages: HoldResponse[];
  ended: Promise<{ code: number; details: string }>;
} {
  const messages: HoldResponse[] = [];
  stream.on("data", (m: HoldResponse) => messages.push(m));
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    stream.on("error", (e: ServiceError) => resolve({ code: e.code, details: e.details }));
    stream.on("end", () => resolve({ code: status.OK, details: "" }));
  });
  return { messages, ended };
}

describe("Hold: acquire and keep alive in one call", () => {
  const cluster = useCluster();

  it("sends the lease at once and after each renewal; cancelling it releases the lock", async () => {
    const { running, prefix } = await cluster.start({ count: 3 });
    const stream = running.client.hold({ name: "held", ttl: ms(600) });
    const { messages } = record(stream);
    await eventually(() => messages.length >= 3, 3000, "three messages");
    expect(messages.every((m) => m.acquired && m.lease?.name === "held")).toBe(true);
    expect(new Set(messages.map((m) => m.lease!.leaseId)).size).toBe(1);
    // Still held well past its TTL.
    await new Promise((r) => setTimeout(r, 700));
    expect((await running.client.acquire({ name: "held", ttl: ms(600) })).acquired).toBe(false);
    stream.cancel();
    await eventually(
      async () => (await Promise.all(cluster.redis.map((r) => r.exists(`${prefix}lock:held`)))).every((n) => n === 0),
      2000,
      "released",
    );
  });

  it("when the wait runs out: one message, acquired=false with retry_after, and the stream ends OK", async () => {
    const { running } = await cluster.start({ count: 3 });
    const holder = await running.client.acquire({ name: "busy", ttl: ms(5000) });
    const { messages, ended } = record(running.client.hold({ name: "busy", ttl: ms(1000), wait: ms(300) }));
    expect((await ended).code).toBe(status.OK);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.acquired).toBe(false);
    expect(
      Number(messages[0]!.retryAfter?.seconds ?? 0n) * 1000 + (messages[0]!.retryAfter?.nanos ?? 0) / 1e6,
    ).toBeGreaterThan(3000);
    await running.client.release({ name: "busy", leaseId: holder.lease!.leaseId });
  });

  it("an outage ends it UNAVAILABLE; a lost lease ends it FAILED_PRECONDITION", async () => {
    const { running, servers, prefix } = await cluster.start({ count: 3 });
    const held = record(running.client.hold({ name: "lost", ttl: ms(600) }));
    await eventually(() => held.messages.length >= 1, 3000, "granted");
    await Promise.all(cluster.redis.map((r) => r.set(`${prefix}lock:lost`, "someone-else", "PX", 5000)));
    expect((await held.ended).code).toBe(status.FAILED_PRECONDITION);

    await servers.kill(0);
    await servers.kill(1);
    const out = record(running.client.hold({ name: "outage", ttl: ms(600), wait: ms(300) }));
    expect((await out.ended).code).toBe(status.UNAVAILABLE);
    expect(out.messages).toHaveLength(0);
  });

  it("rejects bad input with INVALID_ARGUMENT naming the field", async () => {
    const { running } = await cluster.start({ count: 3 });
    const bad = record(running.client.hold({ name: "x", ttl: ms(600), requestId: "has space" }));
    const end = await bad.ended;
    expect(end.code).toBe(status.INVALID_ARGUMENT);
    expect(end.details).toMatch(/^request_id:/);
  });
});

/** A relay that stops passing bytes back to the client: its answers are lost. */
async function answerDroppingRelay(target: string): Promise<{ address: string; drop(): void; close(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  const sockets: Socket[] = [];
  let dropping = false;
  const server: Server = createServer((client) => {
    const upstream = connect(port, host);
    sockets.push(client, upstream);
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      if (!dropping) client.write(chunk);
    });
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("relay not listening");
  return {
    address: `127.0.0.1:${address.port}`,
    drop: () => void (dropping = true),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("retry-safe Acquire (request_id)", () => {
  const cluster = useCluster();

  it("a retry after a lost answer gets the lease it was granted, not acquired=false", async () => {
    const { running } = await cluster.start({ count: 3 });
    const relay = await answerDroppingRelay(running.sidecar.address);
    const lossy = new LockClient(relay.address);
    try {
      await lossy.waitForReady(3000);
      relay.drop();
      const first = await lossy
        .acquire({ name: "job", ttl: ms(5000), requestId: "req-1" }, { deadline: Date.now() + 500 })
        .catch((e: ServiceError) => e.code);
      expect(first).toBe(status.DEADLINE_EXCEEDED);
      // The grant happened: without the request_id, a retry is refused.
      expect((await running.client.acquire({ name: "job", ttl: ms(5000) })).acquired).toBe(false);
      const retry = await running.client.acquire({ name: "job", ttl: ms(5000), requestId: "req-1" });
      expect(retry.acquired).toBe(true);
      const again = await running.client.acquire({ name: "job", ttl: ms(5000), requestId: "req-1" });
      expect(again.lease?.leaseId).toBe(retry.lease?.leaseId);
      expect((await running.client.acquire({ name: "job", ttl: ms(5000), requestId: "req-2" })).acquired).toBe(false);
      // Once released, the same id asks afresh.
      await running.client.release({ name: "job", leaseId: retry.lease!.leaseId });
      const fresh = await running.client.acquire({ name: "job", ttl: ms(5000), requestId: "req-1" });
      expect(fresh.acquired).toBe(true);
      expect(fresh.lease?.leaseId).not.toBe(retry.lease?.leaseId);
    } finally {
      lossy.close();
      await relay.close();
    }
  });
});
