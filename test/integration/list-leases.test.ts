import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { status, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { HeldLease } from "../../gen/lock/v1/lock_pb.ts";
import type { LockClient } from "../../src/client/lock-client.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms, runSidecar, testOptions } from "../support/sidecar-fixture.ts";

const errorOf = (call: Promise<unknown>): Promise<ServiceError | undefined> =>
  call.then(
    () => undefined,
    (e: ServiceError) => e,
  );

/** Every page, following next_page_token until it is empty. */
async function allPages(client: LockClient, pageSize: number): Promise<HeldLease[][]> {
  const pages: HeldLease[][] = [];
  let pageToken = "";
  do {
    const response = await client.listLeases({ pageSize, pageToken });
    pages.push(response.leases);
    pageToken = response.nextPageToken;
  } while (pageToken !== "" && pages.length < 20);
  return pages;
}

/** ListLeases on three real redis-servers: the leases this sidecar holds, by name, a page at a time. */
describe("ListLeases: the leases this sidecar holds", () => {
  const cluster = useCluster();

  it("pages through every lease by name, with owner, token, expiry and grant time, and no lease id", async () => {
    const { running } = await cluster.start({ count: 3 });
    const { client } = running;
    const names = ["e-lease", "a-lease", "d-lease", "b-lease", "c-lease"];
    const granted = new Map<string, { leaseId: string; fencingToken: bigint }>();
    const before = Date.now();
    for (const name of names) {
      const { lease } = await client.acquire({ name, ttl: ms(20_000), owner: `owner of ${name}` });
      granted.set(name, lease!);
    }

    const pages = await allPages(client, 2);
    expect(pages.map((page) => page.map((l) => l.name))).toEqual([
      ["a-lease", "b-lease"],
      ["c-lease", "d-lease"],
      ["e-lease"],
    ]);
    for (const lease of pages.flat()) {
      expect(lease).toMatchObject({
        owner: `owner of ${lease.name}`,
        fencingToken: granted.get(lease.name)!.fencingToken,
        keptAlive: false,
      });
      expect(durationMs(lease.ttl!)).toBe(20_000);
      expect(timestampMs(lease.expiresAt!)).toBeGreaterThan(Date.now() + 10_000);
      expect(timestampMs(lease.acquiredAt!)).toBeGreaterThanOrEqual(before);
    }
    // No page, token included, carries a lease id or its secret.
    const wire = JSON.stringify(await client.listLeases({ pageSize: 1000 }), (_, v: unknown) =>
      typeof v === "bigint" ? String(v) : v,
    );
    for (const { leaseId } of granted.values()) expect(wire).not.toContain(leaseId.split(".")[0]);
    const firstPage = await client.listLeases({ pageSize: 2 });
    const cursor = Buffer.from(firstPage.nextPageToken, "base64url").toString();
    for (const { leaseId } of granted.values()) expect(cursor).not.toContain(leaseId.split(".")[0]);

    // The default page holds them all; a released lease leaves the list, and the others keep their pages.
    expect((await client.listLeases({})).leases).toHaveLength(5);
    await client.release({ name: "b-lease", leaseId: granted.get("b-lease")!.leaseId });
    expect((await allPages(client, 2)).map((page) => page.map((l) => l.name))).toEqual([
      ["a-lease", "c-lease"],
      ["d-lease", "e-lease"],
    ]);
    const resumed = await client.listLeases({ pageSize: 2, pageToken: firstPage.nextPageToken });
    expect(resumed.leases.map((l) => l.name)).toEqual(["c-lease", "d-lease"]);
  });

  it("flags a lease a KeepAlive or Hold stream keeps alive, until the stream goes; another sidecar's leases are not listed", async () => {
    const { running, servers, prefix } = await cluster.start({ count: 3 });
    const { client } = running;
    const plain = await client.acquire({ name: "plain", ttl: ms(20_000) });
    const kept = await client.acquire({ name: "kept", ttl: ms(2000), owner: "keeper" });
    const stream = client.keepAlive({ name: "kept", leaseId: kept.lease!.leaseId, ttl: ms(2000), expireOnClose: true });
    stream.on("data", () => undefined);
    stream.on("error", () => undefined);
    const hold = client.hold({ name: "holding", ttl: ms(2000), owner: "holder" });
    hold.on("data", () => undefined);
    hold.on("error", () => undefined);
    const flags = async () =>
      Object.fromEntries((await client.listLeases({})).leases.map((l) => [l.name, [l.keptAlive, l.owner]]));
    await eventually(async () => Object.keys(await flags()).length === 3, 3000, "three leases");
    expect(await flags()).toEqual({ holding: [true, "holder"], kept: [true, "keeper"], plain: [false, ""] });

    const other = await runSidecar(testOptions({ instances: servers.urls, keyPrefix: prefix }));
    try {
      await other.client.acquire({ name: "elsewhere", ttl: ms(20_000) });
      expect(Object.keys(await flags())).toEqual(["holding", "kept", "plain"]);
      expect((await other.client.listLeases({})).leases.map((l) => l.name)).toEqual(["elsewhere"]);
    } finally {
      await other.stop();
    }

    stream.cancel();
    await eventually(async () => (await flags())["kept"]?.[0] === false, 3000, "kept no longer");
    hold.cancel();
    await client.release({ name: "plain", leaseId: plain.lease!.leaseId });
  });

  it("a bad page_size or page_token is INVALID_ARGUMENT naming the field", async () => {
    const { running } = await cluster.start({ count: 3 });
    const { client } = running;
    const cases = [
      [{ pageSize: -1 }, /^page_size: -1 is negative/],
      [{ pageSize: 1001 }, /^page_size: 1001 is above the maximum 1000/],
      [{ pageToken: "not a token!" }, /^page_token: not a next_page_token from ListLeases/],
      [{ pageToken: Buffer.from('{"v":1,"name":"x","token":"-1"}').toString("base64url") }, /^page_token: /],
      [{ pageToken: Buffer.from("[]").toString("base64url") }, /^page_token: /],
      [{ pageToken: "A".repeat(9000) }, /^page_token: /],
    ] as const;
    for (const [request, problem] of cases) {
      const error = await errorOf(client.listLeases(request));
      expect(error?.code, JSON.stringify(request).slice(0, 80)).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(problem);
    }
    expect((await client.listLeases({ pageSize: 1000 })).leases).toEqual([]);
  });
});
