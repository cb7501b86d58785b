import { timestampMs, durationMs } from "@bufbuild/protobuf/wkt";
import { status, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { DescribeResponse } from "../../gen/lock/v1/lock_pb.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms, runSidecar, testOptions } from "../support/sidecar-fixture.ts";

const errorOf = (call: Promise<unknown>): Promise<ServiceError | undefined> =>
  call.then(
    () => undefined,
    (e: ServiceError) => e,
  );

/** Describe on three real redis-servers: what a majority of them says about one lock. */
describe("Describe: who holds a lock, since when, for how long still, and who waits", () => {
  const cluster = useCluster();

  it("free, then held by the owner Acquire named, with its token, grant time and TTL left; free again once released", async () => {
    const { running } = await cluster.start({ count: 3 });
    const { client } = running;
    const free = await client.describe({ name: "report" });
    expect(free).toMatchObject({
      held: false,
      owner: "",
      fencingToken: 0n,
      waitingTickets: 0,
      instancesTotal: 3,
      instancesAnswered: 3,
      instancesAgreeing: 3,
    } satisfies Partial<DescribeResponse>);
    expect(free.heldSince).toBeUndefined();
    expect(free.remainingTtl).toBeUndefined();

    const before = Date.now();
    const granted = await client.acquire({ name: "report", ttl: ms(8000), owner: "billing-job pod/7" });
    const after = Date.now();
    const held = await client.describe({ name: "report" });
    expect(held).toMatchObject({ held: true, owner: "billing-job pod/7", fencingToken: granted.lease!.fencingToken });
    expect(timestampMs(held.heldSince!)).toBeGreaterThanOrEqual(before);
    expect(timestampMs(held.heldSince!)).toBeLessThanOrEqual(after);
    expect(durationMs(held.remainingTtl!)).toBeLessThanOrEqual(8000);
    expect(durationMs(held.remainingTtl!)).toBeGreaterThan(8000 - 2000);
    // Calls answer once a majority wrote: the slowest instance may agree a moment later.
    await eventually(async () => (await client.describe({ name: "report" })).instancesAgreeing === 3, 2000, "3 agree");
    // The description never carries the lease id or its secret.
    expect(JSON.stringify(held, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(
      granted.lease!.leaseId.split(".")[0],
    );

    expect((await client.release({ name: "report", leaseId: granted.lease!.leaseId })).released).toBe(true);
    expect(await client.describe({ name: "report" })).toMatchObject({ held: false, owner: "", fencingToken: 0n });
  });

  it("any sidecar on the same instances describes a lock another holds; extend and Hold keep the owner", async () => {
    const { running, servers, prefix } = await cluster.start({ count: 3 });
    const other = await runSidecar(testOptions({ instances: servers.urls, keyPrefix: prefix }));
    try {
      const granted = await running.client.acquire({ name: "shared", ttl: ms(3000), owner: "first sidecar's caller" });
      await running.client.extend({ name: "shared", leaseId: granted.lease!.leaseId, ttl: ms(20_000) });
      const seen = await other.client.describe({ name: "shared" });
      expect(seen).toMatchObject({ held: true, owner: "first sidecar's caller", waitingHere: 0 });
      expect(durationMs(seen.remainingTtl!)).toBeGreaterThan(10_000);

      const hold = other.client.hold({ name: "held-by-stream", ttl: ms(600), owner: "streaming worker" });
      hold.on("data", () => undefined);
      hold.on("error", () => undefined);
      await eventually(async () => (await running.client.describe({ name: "held-by-stream" })).held, 3000, "held");
      // Past its first TTL: renewed by the stream, and still the same holder.
      await new Promise((r) => setTimeout(r, 900));
      expect(await running.client.describe({ name: "held-by-stream" })).toMatchObject({
        held: true,
        owner: "streaming worker",
      });
      hold.cancel();
    } finally {
      await other.stop();
    }
  });

  it("a caller waiting through this sidecar shows as a live ticket and as waiting here; a handover names the next owner", async () => {
    const { running } = await cluster.start({ count: 3 });
    const { client } = running;
    const holder = await client.acquire({ name: "queue", ttl: ms(10_000), owner: "holder" });
    const waiter = client.acquire({ name: "queue", ttl: ms(5000), wait: ms(8000), owner: "waiter" });
    await eventually(async () => (await client.describe({ name: "queue" })).waitingTickets === 1, 3000, "a ticket");
    expect(await client.describe({ name: "queue" })).toMatchObject({ owner: "holder", waitingHere: 1 });

    await client.release({ name: "queue", leaseId: holder.lease!.leaseId });
    const next = await waiter;
    expect(next.acquired).toBe(true);
    expect(await client.describe({ name: "queue" })).toMatchObject({
      held: true,
      owner: "waiter",
      fencingToken: next.lease!.fencingToken,
      waitingTickets: 0,
      waitingHere: 0,
    });
  });

  it("one instance stopped: the two others still make the view; two stopped: UNAVAILABLE naming the lock", async () => {
    const { running, servers } = await cluster.start({ count: 3, options: { circuitFailures: 1000 } });
    const { client } = running;
    const granted = await client.acquire({ name: "outage", ttl: ms(30_000), owner: "survivor" });
    await eventually(async () => (await client.describe({ name: "outage" })).instancesAgreeing === 3, 2000, "3 agree");

    await servers.kill(0);
    const majority = await client.describe({ name: "outage" });
    expect(majority).toMatchObject({
      held: true,
      owner: "survivor",
      fencingToken: granted.lease!.fencingToken,
      instancesTotal: 3,
      instancesAnswered: 2,
      instancesAgreeing: 2,
    });

    await servers.kill(1);
    const error = await errorOf(client.describe({ name: "outage" }));
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toMatch(/^lock "outage": only [01] of 3 instances answered \(need 2\)/);
  });

  it("a bad name is INVALID_ARGUMENT naming the field and the bound, as Acquire's", async () => {
    const { running } = await cluster.start({ count: 3, options: { maxNameBytes: 16 } });
    const { client } = running;
    for (const [name, problem] of [
      ["", /^name: must not be empty/],
      ["x".repeat(17), /^name: 17 bytes is over the maximum 16 \(LOCK_MAX_NAME_BYTES\)/],
      ["tab\there", /^name: must be UTF-8 without control characters/],
    ] as const) {
      const error = await errorOf(client.describe({ name }));
      expect(error?.code, JSON.stringify(name)).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(problem);
    }
  });
});
