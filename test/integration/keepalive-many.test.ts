import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { KeepAliveManyRequestSchema } from "../../gen/lock/v1/lock_pb.ts";
import { LockClient } from "../../src/client/lock-client.ts";
import { TcpProxy } from "../chaos/tcp-proxy.ts";
import { ManyStream } from "../support/many-stream.ts";
import { useCluster, useSharedCluster } from "../support/sidecar-cluster.ts";
import { ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

const TTL_MS = 1000;

/** Acquires each name with TTL_MS; returns their lease ids in order. */
async function acquireAll(client: LockClient, names: readonly string[], ttlMs = TTL_MS): Promise<string[]> {
  const ids: string[] = [];
  for (const name of names) {
    const granted = await client.acquire({ name, ttl: ms(ttlMs) });
    expect(granted.acquired).toBe(true);
    ids.push(granted.lease!.leaseId);
  }
  return ids;
}

/** A stranger's acquire of `name` with a wait: when it was granted (wall ms), after releasing it. */
async function grantedAtMs(client: LockClient, name: string, waitMs: number): Promise<number> {
  const next = await client.acquire({ name, ttl: ms(500), wait: ms(waitMs) }, { deadline: Date.now() + waitMs + 5000 });
  const atMs = Date.now();
  expect(next.acquired).toBe(true);
  await client.release({ name, leaseId: next.lease!.leaseId });
  return atMs;
}

const takenByStranger = async (client: LockClient, name: string): Promise<boolean> => {
  const r = await client.acquire({ name, ttl: ms(500) });
  if (r.acquired) await client.release({ name, leaseId: r.lease!.leaseId });
  return r.acquired;
};

describe("KeepAliveMany: many leases kept alive over one stream", () => {
  const cluster = useSharedCluster({ count: 3 });
  const opened: ManyStream[] = [];
  afterEach(() => {
    for (const many of opened.splice(0)) many.stream.cancel();
  });
  const open = (client = cluster.running.client): ManyStream => {
    const many = new ManyStream(client);
    opened.push(many);
    return many;
  };

  it("keeps several leases renewed well past their first TTL, in messages shared by the leases", async () => {
    const { client } = cluster.running;
    const names = ["many-a", "many-b", "many-c", "many-d", "many-e"];
    const ids = await acquireAll(client, names);
    const many = open();
    names.forEach((name, i) => many.keep(name, ids[i]!, TTL_MS));
    const firstMs = Date.now();
    for (const id of ids) await many.renewedTimes(id, 5, 5000);
    // Five messages (the first at once, then about every third of the TTL): past its first end.
    expect(Date.now() - firstMs).toBeGreaterThan(TTL_MS);
    for (const name of names) expect(await takenByStranger(client, name)).toBe(false);
    const entries = [...many.renewals.values()].reduce((a, b) => a + b, 0);
    // Batched: renewals of one tick share a message.
    expect(many.messages.length).toBeLessThan(entries);
    expect(many.shortened).toEqual([]);
    expect(many.lost).toEqual([]);
    expect(many.refused).toEqual([]);
  });

  it("a stop with release frees that lock at once; the others stay kept", async () => {
    const { client } = cluster.running;
    const names = ["stop-a", "stop-b", "stop-c"];
    const ids = await acquireAll(client, names);
    const many = open();
    names.forEach((name, i) => many.keep(name, ids[i]!, TTL_MS));
    for (const id of ids) await many.renewedTimes(id, 1);
    many.stop("stop-b", ids[1]!, true);
    const stopped = await many.next(() => many.stopped[0], 3000, "stop confirmed");
    expect(stopped).toMatchObject({ name: "stop-b", leaseId: ids[1], released: true });
    const toldMs = many.told.get(ids[1]!)!;
    // Released, not left to run out: a stranger takes it before the end it was told.
    expect(await takenByStranger(client, "stop-b")).toBe(true);
    expect(Date.now()).toBeLessThan(toldMs);
    // The others go on: renewed past their first TTL, still held.
    const renewedBefore = many.renewals.get(ids[0]!)!;
    await many.renewedTimes(ids[0]!, renewedBefore + 4);
    await many.renewedTimes(ids[2]!, renewedBefore + 4);
    expect(await takenByStranger(client, "stop-a")).toBe(false);
    expect(await takenByStranger(client, "stop-c")).toBe(false);
    expect(many.renewals.get(ids[1]!)).toBe(1);
  });

  it("a stop without release lets the lease run out at the end it was told, not before", async () => {
    const { client } = cluster.running;
    const [id] = await acquireAll(client, ["run-out"]);
    const many = open();
    many.keep("run-out", id!, TTL_MS);
    await many.renewedTimes(id!, 2);
    many.stop("run-out", id!, false);
    expect(await many.next(() => many.stopped[0], 3000, "stop confirmed")).toMatchObject({ released: false });
    const toldMs = many.told.get(id!)!;
    expect(await grantedAtMs(client, "run-out", 5000)).toBeGreaterThanOrEqual(toldMs);
  });

  it("the owner's cancel releases every lease on the stream except those kept with expire_on_close", async () => {
    const { client } = cluster.running;
    const names = ["cancel-a", "cancel-b", "cancel-keep"];
    const ids = await acquireAll(client, names, 3000);
    const many = open();
    many.keep("cancel-a", ids[0]!, 3000);
    many.keep("cancel-b", ids[1]!, 3000);
    many.keep("cancel-keep", ids[2]!, 3000, true);
    for (const id of ids) await many.renewedTimes(id, 1);
    many.stream.cancel();
    const cancelledMs = Date.now();
    // Released at once, far from their 3 s end.
    expect(await grantedAtMs(client, "cancel-a", 2000)).toBeLessThan(cancelledMs + 1000);
    expect(await grantedAtMs(client, "cancel-b", 2000)).toBeLessThan(cancelledMs + 1000);
    // Kept with expire_on_close: runs out at the end told.
    expect(await grantedAtMs(client, "cancel-keep", 5000)).toBeGreaterThanOrEqual(many.told.get(ids[2]!)!);
  });

  it("a bad item is refused INVALID_ARGUMENT naming its field, and the leases on the stream stay kept", async () => {
    const { client } = cluster.running;
    const [id] = await acquireAll(client, ["bad-items"]);
    const many = open();
    many.keep("bad-items", id!, TTL_MS);
    await many.renewedTimes(id!, 1);
    many.keep("bad-ttl", id!, 10);
    many.keep("bad-id", "not a lease id", TTL_MS);
    many.keep("", id!, TTL_MS);
    many.write(create(KeepAliveManyRequestSchema, {}));
    many.stop("bad-items", "garbage", true);
    many.stop("never-kept", id!, true);
    await many.next(() => (many.refused.length >= 6 ? true : undefined), 3000, "six refusals");
    expect(many.refused.map((r) => [r.code, r.reason, r.field])).toEqual([
      [status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "keep.ttl"],
      [status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "keep.lease_id"],
      [status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "keep.name"],
      [status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "item"],
      [status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "stop.lease_id"],
      [status.INVALID_ARGUMENT, "LEASE_NOT_KEPT", "stop.lease_id"],
    ]);
    expect(many.refused[0]).toMatchObject({ name: "bad-ttl", leaseId: id });
    expect(many.refused[0]!.message).toMatch(/^keep\.ttl: .* below the minimum .*\(LOCK_MIN_TTL\)/);
    expect(many.refused[5]!.message).toMatch(/"never-kept": this lease is not on this stream/);
    // The good lease goes on, past its first TTL.
    await many.renewedTimes(id!, 5);
    expect(await takenByStranger(client, "bad-items")).toBe(false);
    expect(many.lost).toEqual([]);
  });

  it("a second keep of a lease on the stream is refused for that item; the first keep stands", async () => {
    const { client } = cluster.running;
    const [id] = await acquireAll(client, ["twice"]);
    const many = open();
    many.keep("twice", id!, TTL_MS);
    await many.renewedTimes(id!, 1);
    many.keep("twice", id!, 2000);
    const refused = await many.next(() => many.refused[0], 3000, "refusal");
    expect(refused).toMatchObject({
      name: "twice",
      code: status.INVALID_ARGUMENT,
      reason: "LEASE_ALREADY_KEPT",
      field: "keep.lease_id",
    });
    await many.renewedTimes(id!, 4);
    expect(await takenByStranger(client, "twice")).toBe(false);
  });

  it("a lost lease is reported for that lease alone; the others go on, and the stream stays open", async () => {
    const { client } = cluster.running;
    const ids = await acquireAll(client, ["lost-one", "lost-other"]);
    const many = open();
    many.keep("lost-one", ids[0]!, TTL_MS);
    many.keep("lost-other", ids[1]!, TTL_MS);
    for (const id of ids) await many.renewedTimes(id, 1);
    await Promise.all(cluster.redis.map((r) => r.set(`${cluster.prefix}lock:lost-one`, "someone-else", "PX", 5000)));
    const lost = await many.next(() => many.lost[0], 3000, "loss");
    expect(lost).toMatchObject({
      name: "lost-one",
      leaseId: ids[0],
      code: status.FAILED_PRECONDITION,
      reason: "LEASE_NOT_HELD",
    });
    // Reported no later than the end it was last told.
    expect(Date.now()).toBeLessThanOrEqual(many.told.get(ids[0]!)! + 100);
    const before = many.renewals.get(ids[1]!)!;
    await many.renewedTimes(ids[1]!, before + 4);
    expect(many.lost).toHaveLength(1);
    // Off the stream: a stop of it is refused, and it can be kept again (and found lost again).
    many.stop("lost-one", ids[0]!, true);
    expect(await many.next(() => many.refused[0], 3000, "refusal")).toMatchObject({ reason: "LEASE_NOT_KEPT" });
  });

  it("after a half-close the leases are still renewed; the stream ends OK once none is left", async () => {
    const { client } = cluster.running;
    const [id] = await acquireAll(client, ["half-closed"]);
    const many = open();
    many.keep("half-closed", id!, TTL_MS);
    await many.renewedTimes(id!, 1);
    many.stream.end();
    await many.renewedTimes(id!, 5);
    expect(await takenByStranger(client, "half-closed")).toBe(false);
    await Promise.all(cluster.redis.map((r) => r.set(`${cluster.prefix}lock:half-closed`, "someone-else", "PX", 5000)));
    expect(await many.ended).toEqual({ code: status.OK, details: "" });
    expect(many.lost).toHaveLength(1);
  });
});

describe("KeepAliveMany: how the call ends decides for its leases", () => {
  const cluster = useCluster();
  const closing: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const c of closing.splice(0)) await c.close();
  });

  it("a dead connection leaves each lease held until the end it was told", async () => {
    const { running } = await cluster.start({ count: 3 });
    const proxy = await TcpProxy.start(Number(running.sidecar.address.split(":").at(-1)));
    const owner = new LockClient(`127.0.0.1:${proxy.port}`);
    closing.push(owner, proxy);
    const names = ["cut-a", "cut-b"];
    const ids = await acquireAll(running.client, names, 2000);
    const many = new ManyStream(owner);
    many.keep("cut-a", ids[0]!, 2000);
    many.keep("cut-b", ids[1]!, 2000);
    for (const id of ids) await many.renewedTimes(id, 2);
    proxy.setMode({ kind: "reset" });
    proxy.resetConnections();
    // The status the owner's own gRPC library gives a dropped connection.
    expect([status.UNAVAILABLE, status.INTERNAL]).toContain((await many.ended).code);
    for (const [i, name] of names.entries()) {
      expect(await grantedAtMs(running.client, name, 5000)).toBeGreaterThanOrEqual(many.told.get(ids[i]!)!);
    }
  });

  it("a deadline that passes leaves each lease held until the end it was told", async () => {
    const { running } = await cluster.start({ count: 3 });
    const [id] = await acquireAll(running.client, ["deadline"], 2000);
    const many = new ManyStream(running.client, { deadline: Date.now() + 800 });
    many.keep("deadline", id!, 2000);
    expect((await many.ended).code).toBe(status.DEADLINE_EXCEEDED);
    expect(await grantedAtMs(running.client, "deadline", 5000)).toBeGreaterThanOrEqual(many.told.get(id!)!);
  });

  it("overload and LOCK_MAX_LEASES refuse a new lease for that item only, never one the stream keeps", async () => {
    const load = { renewalLagMs: 0 };
    const { running, servers, prefix } = await cluster.start({
      count: 3,
      options: { overloadLagMs: 100, overloadSettleMs: 0, maxLeases: 2 },
      deps: { loadSignals: { renewalLagMs: () => load.renewalLagMs, eventLoopDelayMs: () => 0 } },
    });
    const other: Running = await runSidecar(testOptions({ instances: servers.urls, keyPrefix: prefix }));
    closing.push({ close: () => other.stop() });
    const [held] = await acquireAll(running.client, ["held-here"]);
    // Granted by another sidecar: new to this one.
    const [fresh, third] = await acquireAll(other.client, ["fresh", "third"], 10_000);
    const many = new ManyStream(running.client);
    closing.push({ close: () => many.stream.cancel() });
    many.keep("held-here", held!, TTL_MS);
    await many.renewedTimes(held!, 1);

    load.renewalLagMs = 500;
    many.keep("fresh", fresh!, TTL_MS);
    const overloaded = await many.next(() => many.refused[0], 3000, "overload refusal");
    expect(overloaded).toMatchObject({ name: "fresh", code: status.RESOURCE_EXHAUSTED, reason: "OVERLOADED" });
    expect(overloaded.metadata).toMatchObject({ setting: "LOCK_OVERLOAD_LAG", cause: "renewal_lag" });
    // What the stream keeps is still renewed meanwhile.
    await many.renewedTimes(held!, 4);

    load.renewalLagMs = 0;
    many.keep("fresh", fresh!, TTL_MS);
    await many.renewedTimes(fresh!, 1);
    // Two leases held here now, the limit: a third new one is refused.
    many.keep("third", third!, TTL_MS);
    const limited = await many.next(() => many.refused[1], 3000, "limit refusal");
    expect(limited).toMatchObject({ name: "third", code: status.RESOURCE_EXHAUSTED, reason: "LIMIT_EXCEEDED" });
    expect(limited.metadata).toMatchObject({ setting: "LOCK_MAX_LEASES" });
    await many.renewedTimes(fresh!, 4);
    expect(many.lost).toEqual([]);
  });

  it("a stream past LOCK_MAX_STREAMS is refused whole; one stream counts once however many leases it keeps", async () => {
    const { running } = await cluster.start({ count: 3, options: { maxStreams: 1 } });
    const ids = await acquireAll(running.client, ["s-a", "s-b", "s-c"]);
    const many = new ManyStream(running.client);
    closing.push({ close: () => many.stream.cancel() });
    ["s-a", "s-b", "s-c"].forEach((name, i) => many.keep(name, ids[i]!, TTL_MS));
    for (const id of ids) await many.renewedTimes(id, 1);
    const second = new ManyStream(running.client);
    const refused = await second.ended;
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/\(LOCK_MAX_STREAMS\)/);
  });

  it("shutdown ends the stream UNAVAILABLE and leaves each lease to run out, never released", async () => {
    const { running, prefix } = await cluster.start({ count: 3 });
    const ids = await acquireAll(running.client, ["down-a", "down-b"], 3000);
    const many = new ManyStream(running.client);
    many.keep("down-a", ids[0]!, 3000);
    many.keep("down-b", ids[1]!, 3000);
    for (const id of ids) await many.renewedTimes(id, 1);
    await running.sidecar.stop();
    expect((await many.ended).code).toBe(status.UNAVAILABLE);
    for (const name of ["down-a", "down-b"]) {
      for (const r of cluster.redis) expect(await r.pttl(`${prefix}lock:${name}`)).toBeGreaterThan(1000);
    }
  });
});
