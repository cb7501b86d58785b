import { status, type ServiceError } from "@grpc/grpc-js";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import { startServers, type InstanceServers } from "../support/instance-servers.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

/**
 * The lock API end to end: generated client -> gRPC -> sidecar -> 3 real
 * instances: redis-server processes, or containers (Dragonfly or
 * LOCK_TEST_IMAGE) when a container engine is there (test/support/instance-servers.ts).
 */
describe("LockService against 3 real instances", () => {
  let servers: InstanceServers;
  let running: Running;
  let redis: Redis[];
  let prefix: string;

  beforeAll(async () => {
    servers = await startServers(3);
    const options = testOptions({ instances: servers.urls });
    prefix = options.keyPrefix;
    running = await runSidecar(options);
    redis = servers.urls.map((url) => new Redis(url));
  });

  afterAll(async () => {
    await running?.stop();
    redis?.forEach((r) => r.disconnect());
    await servers?.stopAll();
  });

  const client = () => running.client;
  const keysOnEachInstance = (name: string) => Promise.all(redis.map((r) => r.exists(`${prefix}lock:${name}`)));
  /** Calls answer once a majority did the work: the slowest instance's write may land a moment later. */
  const keysSettleTo = (name: string, n: number) =>
    eventually(
      async () => (await keysOnEachInstance(name)).every((k) => k === n),
      2000,
      `${n} ${name} key(s) on every instance`,
    );
  const code = async (call: Promise<unknown>): Promise<number> => {
    try {
      await call;
    } catch (error) {
      return (error as ServiceError).code;
    }
    return status.OK;
  };

  it("acquires, extends and releases a lease, writing the key to every instance", async () => {
    const before = Date.now();
    const acquired = await client().acquire({ name: "orders", ttl: ms(5000), owner: "pod-a" });
    expect(acquired.acquired).toBe(true);
    const lease = acquired.lease!;
    expect(lease.name).toBe("orders");
    expect(lease.leaseId.length).toBeGreaterThanOrEqual(27);
    const expiresAt = timestampMs(lease.expiresAt!);
    // Conservative: no later than TTL - drift from the start of the call.
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 5000 - 52);
    expect(expiresAt).toBeGreaterThan(before + 4000);
    await keysSettleTo("orders", 1);

    const extended = await client().extend({ name: "orders", leaseId: lease.leaseId, ttl: ms(20_000) });
    expect(timestampMs(extended.lease!.expiresAt!)).toBeGreaterThan(expiresAt + 10_000);
    expect(extended.lease!.fencingToken).toBe(lease.fencingToken);
    const pttl = await redis[0]!.pttl(`${prefix}lock:orders`);
    expect(pttl).toBeGreaterThan(15_000);

    expect((await client().release({ name: "orders", leaseId: lease.leaseId })).released).toBe(true);
    await keysSettleTo("orders", 0);
    // Idempotent: a second release is not an error.
    expect((await client().release({ name: "orders", leaseId: lease.leaseId })).released).toBe(false);
  });

  it("reports a lock held by someone else as acquired=false with status OK and a retry hint", async () => {
    const first = await client().acquire({ name: "held", ttl: ms(3000) });
    const second = await client().acquire({ name: "held", ttl: ms(3000) });
    expect(second.acquired).toBe(false);
    expect(second.lease).toBeUndefined();
    const retryAfterMs = Number(second.retryAfter!.seconds) * 1000 + second.retryAfter!.nanos / 1e6;
    expect(retryAfterMs).toBeGreaterThan(2000);
    expect(retryAfterMs).toBeLessThanOrEqual(3000);
    // The failed attempt left nothing behind: the holder's key is intact and its own.
    expect((await client().release({ name: "held", leaseId: first.lease!.leaseId })).released).toBe(true);
  });

  it("waits for a held lock and gets it once the holder releases", async () => {
    const first = await client().acquire({ name: "queue", ttl: ms(10_000) });
    const waiting = client().acquire({ name: "queue", ttl: ms(2000), wait: ms(5000) });
    await new Promise((r) => setTimeout(r, 150));
    await client().release({ name: "queue", leaseId: first.lease!.leaseId });
    const second = await waiting;
    expect(second.acquired).toBe(true);
    expect(second.lease!.fencingToken).toBeGreaterThan(first.lease!.fencingToken);
    await client().release({ name: "queue", leaseId: second.lease!.leaseId });
  });

  it("gives up when the wait runs out and never waits beyond the call's deadline", async () => {
    const holder = await client().acquire({ name: "busy", ttl: ms(10_000) });
    const started = Date.now();
    const waited = await client().acquire({ name: "busy", wait: ms(400) });
    expect(waited.acquired).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);

    const deadlineStart = Date.now();
    const result = await client().acquire({ name: "busy", wait: ms(60_000) }, { deadline: Date.now() + 700 });
    expect(result.acquired).toBe(false);
    expect(Date.now() - deadlineStart).toBeLessThan(700);
    await client().release({ name: "busy", leaseId: holder.lease!.leaseId });
  });

  it("hands out strictly increasing fencing tokens per name", async () => {
    const tokens: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      const { lease } = await client().acquire({ name: "fenced", ttl: ms(1000) });
      tokens.push(lease!.fencingToken);
      await client().release({ name: "fenced", leaseId: lease!.leaseId });
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
  });

  it("lets a lease expire at its TTL, after which Extend is FAILED_PRECONDITION and others can acquire", async () => {
    const { lease } = await client().acquire({ name: "expiring", ttl: ms(500) });
    await eventually(async () => (await keysOnEachInstance("expiring")).every((n) => n === 0), 3000, "keys to expire");
    expect(await code(client().extend({ name: "expiring", leaseId: lease!.leaseId, ttl: ms(1000) }))).toBe(
      status.FAILED_PRECONDITION,
    );
    const next = await client().acquire({ name: "expiring", ttl: ms(1000) });
    expect(next.acquired).toBe(true);
    expect((await client().release({ name: "expiring", leaseId: lease!.leaseId })).released).toBe(false);
    await client().release({ name: "expiring", leaseId: next.lease!.leaseId });
  });

  it("never lets a wrong lease id extend, release or keep alive someone else's lease", async () => {
    const { lease } = await client().acquire({ name: "mine", ttl: ms(5000) });
    const other = await client().acquire({ name: "other", ttl: ms(5000) });
    const [secret, token] = lease!.leaseId.split(".");
    const forged = `${"A".repeat(secret!.length)}.${token}`;
    expect(await code(client().extend({ name: "mine", leaseId: forged, ttl: ms(1000) }))).toBe(
      status.FAILED_PRECONDITION,
    );
    expect((await client().release({ name: "mine", leaseId: forged })).released).toBe(false);
    // Another lease's id on this name: still not ours.
    expect((await client().release({ name: "mine", leaseId: other.lease!.leaseId })).released).toBe(false);
    expect(await code(client().release({ name: "mine", leaseId: "not-a-lease" }))).toBe(status.INVALID_ARGUMENT);
    const stream = client().keepAlive({ name: "mine", leaseId: forged, ttl: ms(1000) });
    const ended = await new Promise<number>((resolve) => {
      stream.on("data", () => undefined);
      stream.on("error", (e: ServiceError) => resolve(e.code));
      stream.on("end", () => resolve(status.OK));
    });
    expect(ended).toBe(status.FAILED_PRECONDITION);
    // The real lease is untouched on every instance.
    expect(await keysOnEachInstance("mine")).toEqual([1, 1, 1]);
    expect((await client().release({ name: "mine", leaseId: lease!.leaseId })).released).toBe(true);
    await client().release({ name: "other", leaseId: other.lease!.leaseId });
  });

  it("rejects bad input with INVALID_ARGUMENT naming the field and the bound", async () => {
    const cases: [Promise<unknown>, RegExp][] = [
      [client().acquire({ name: "" }), /name: must not be empty/],
      [client().acquire({ name: "x".repeat(513) }), /name: 513 bytes .* maximum 512 \(LOCK_MAX_NAME_BYTES\)/],
      [client().acquire({ name: "bad\nname" }), /name: .*control characters/],
      [client().acquire({ name: "ok", ttl: ms(50) }), /ttl: 50ms is below the minimum 500ms \(LOCK_MIN_TTL\)/],
      [client().acquire({ name: "ok", ttl: ms(3_600_000) }), /ttl: 1h is above the maximum 5m \(LOCK_MAX_TTL\)/],
      [client().acquire({ name: "ok", ttl: { seconds: -1n, nanos: 0 } }), /ttl: must not be negative/],
      [client().acquire({ name: "ok", wait: ms(3_600_000) }), /wait: 1h is above the maximum 5m \(LOCK_MAX_WAIT\)/],
      [client().extend({ name: "ok", leaseId: "" }), /lease_id: must not be empty/],
    ];
    for (const [call, message] of cases) {
      const error = (await call.then(
        () => undefined,
        (e: unknown) => e,
      )) as ServiceError | undefined;
      expect(error?.code, String(message)).toBe(status.INVALID_ARGUMENT);
      expect(error!.details).toMatch(message);
    }
    // Nothing broke: the sidecar still serves.
    const { lease } = await client().acquire({ name: "after-bad-input", ttl: ms(1000) });
    await client().release({ name: "after-bad-input", leaseId: lease!.leaseId });
  });

  it("keeps a lease alive over a stream and releases it when the stream is cancelled", async () => {
    const { lease } = await client().acquire({ name: "kept", ttl: ms(600) });
    const stream = client().keepAlive({ name: "kept", leaseId: lease!.leaseId, ttl: ms(600) });
    const messages: KeepAliveResponse[] = [];
    stream.on("data", (m: KeepAliveResponse) => messages.push(m));
    stream.on("error", () => undefined);
    // Well past the TTL: only renewals keep it held.
    await new Promise((r) => setTimeout(r, 1500));
    expect(messages.length).toBeGreaterThanOrEqual(4);
    expect(await keysOnEachInstance("kept")).toEqual([1, 1, 1]);
    const ends = messages.map((m) => timestampMs(m.lease!.expiresAt!));
    expect(ends[ends.length - 1]!).toBeGreaterThan(ends[0]!);
    stream.cancel();
    await eventually(async () => (await keysOnEachInstance("kept")).every((n) => n === 0), 1000, "release on close");
    expect((await client().acquire({ name: "kept", ttl: ms(500) })).acquired).toBe(true);
  });

  it("a lease kept by two streams (a client that reopened its stream) is released only when the last one ends", async () => {
    const { lease } = await client().acquire({ name: "reopened", ttl: ms(600) });
    const open = (): ReturnType<ReturnType<typeof client>["keepAlive"]> => {
      const stream = client().keepAlive({ name: "reopened", leaseId: lease!.leaseId, ttl: ms(600) });
      stream.on("error", () => undefined);
      return stream;
    };
    const old = open();
    await new Promise<void>((resolve) => old.once("data", () => resolve()));
    const current = open();
    const renewals: KeepAliveResponse[] = [];
    current.on("data", (m: KeepAliveResponse) => renewals.push(m));
    await eventually(() => renewals.length >= 1, 2000, "the second stream renews");

    old.cancel();
    // Well past the TTL: the second stream alone keeps the lease.
    await new Promise((r) => setTimeout(r, 1200));
    expect(await keysOnEachInstance("reopened")).toEqual([1, 1, 1]);
    expect((await client().acquire({ name: "reopened", ttl: ms(500) })).acquired).toBe(false);

    current.cancel();
    await eventually(
      async () => (await keysOnEachInstance("reopened")).every((n) => n === 0),
      1000,
      "release when the last stream ends",
    );
  });

  it("leaves the lease to expire when expire_on_close is set", async () => {
    const { lease } = await client().acquire({ name: "left", ttl: ms(800) });
    const stream = client().keepAlive({ name: "left", leaseId: lease!.leaseId, ttl: ms(800), expireOnClose: true });
    stream.on("error", () => undefined);
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    stream.cancel();
    await new Promise((r) => setTimeout(r, 150));
    expect(await keysOnEachInstance("left")).toEqual([1, 1, 1]);
    await eventually(async () => (await keysOnEachInstance("left")).every((n) => n === 0), 3000, "expiry");
  });
});
