import { randomBytes } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { LockClient } from "../../src/client/lock-client.ts";
import { useSharedCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms, runSidecar, testOptions } from "../support/sidecar-fixture.ts";

const OWNER_TTL_MS = 30_000;
/** Every wrong call asks for more than the owner's TTL: had one renewed the lease, PTTL would show it. */
const WRONG_TTL_MS = 60_000;

/**
 * Only a lease's secret moves it: every other combination of fields, on
 * every call that touches a lease, leaves it exactly as it was on every
 * instance. Key prefixes keep tenants on shared instances apart.
 */
describe("ownership", () => {
  const cluster = useSharedCluster();
  const redis = cluster.redis;

  const codeOf = (call: Promise<unknown>): Promise<number> =>
    call.then(
      () => status.OK,
      (e: ServiceError) => e.code,
    );

  /** How a KeepAlive stream ended: its status code (OK for a clean end), after `settleMs` if it is still open. */
  const keepAliveCode = (
    client: LockClient,
    request: { name: string; leaseId: string; ttl: { seconds: bigint; nanos: number } },
    settleMs = 1500,
  ) =>
    new Promise<{ code: number; messages: number }>((resolve) => {
      const stream = client.keepAlive(request);
      let messages = 0;
      const timer = setTimeout(() => {
        stream.cancel();
        resolve({ code: -1, messages });
      }, settleMs);
      stream.on("data", () => messages++);
      stream.on("error", (e: ServiceError) => {
        clearTimeout(timer);
        resolve({ code: e.code, messages });
      });
      stream.on("end", () => {
        clearTimeout(timer);
        resolve({ code: status.OK, messages });
      });
    });

  /**
   * The lease as every instance holds it: the secret (the key's value up to
   * the holder recorded after it), its PTTL, and the fencing counter.
   */
  const onInstances = (prefix: string, name: string) =>
    Promise.all(
      redis.map(async (r) => ({
        value: (await r.get(`${prefix}lock:${name}`))?.split(" ")[0] ?? null,
        pttl: await r.pttl(`${prefix}lock:${name}`),
        fence: await r.get(`${prefix}fence:${name}`),
      })),
    );

  /** Waits until every instance holds `value` for the name (a grant's slowest write lands after the answer). */
  const settledOnInstances = (prefix: string, name: string, value: string) =>
    eventually(
      async () => (await onInstances(prefix, name)).every((state) => state.value === value),
      2000,
      `${name} held on every instance`,
    );

  it("Extend, Release and KeepAlive without the lease's secret never touch it", async () => {
    const { client } = cluster.running;
    const { prefix } = cluster;
    const owned = await client.acquire({ name: "owned", ttl: ms(OWNER_TTL_MS) });
    const other = await client.acquire({ name: "someone-elses", ttl: ms(OWNER_TTL_MS) });
    expect(owned.acquired && other.acquired).toBe(true);
    const leaseId = owned.lease!.leaseId;
    const [secret, token] = leaseId.split(".") as [string, string];
    const otherLeaseId = other.lease!.leaseId;
    const forgedSecret = randomBytes(20).toString("base64url");

    const refusals: { what: string; name: string; leaseId: string; invalid: boolean }[] = [
      { what: "right lease id, wrong name", name: "not-owned", leaseId, invalid: false },
      { what: "right lease id, the other lease's name", name: "someone-elses", leaseId, invalid: false },
      { what: "missing lease id", name: "owned", leaseId: "", invalid: true },
      { what: "another lease's id", name: "owned", leaseId: otherLeaseId, invalid: false },
      { what: "right token, wrong secret", name: "owned", leaseId: `${forgedSecret}.${token}`, invalid: false },
      {
        what: "right token, the other lease's secret",
        name: "owned",
        leaseId: `${otherLeaseId.split(".")[0]}.${token}`,
        invalid: false,
      },
      { what: "the secret alone", name: "owned", leaseId: secret, invalid: true },
      { what: "the token alone", name: "owned", leaseId: token, invalid: true },
      { what: "a secret prefix", name: "owned", leaseId: `${secret.slice(0, -1)}.${token}`, invalid: false },
      {
        what: "a secret with a different last character",
        name: "owned",
        leaseId: `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}.${token}`,
        invalid: false,
      },
    ];
    // Grants answer once a majority has the key: let the slowest instance catch up first.
    await settledOnInstances(prefix, "owned", secret);
    await settledOnInstances(prefix, "someone-elses", otherLeaseId.split(".")[0]!);
    const before = await onInstances(prefix, "owned");
    const otherBefore = await onInstances(prefix, "someone-elses");
    for (const r of refusals) {
      const refusedCode = r.invalid ? status.INVALID_ARGUMENT : status.FAILED_PRECONDITION;
      expect({
        what: r.what,
        rpc: "extend",
        code: await codeOf(client.extend({ name: r.name, leaseId: r.leaseId, ttl: ms(WRONG_TTL_MS) })),
      }).toEqual({
        what: r.what,
        rpc: "extend",
        code: refusedCode,
      });
      const released = await client.release({ name: r.name, leaseId: r.leaseId }).then(
        (res) => (res.released ? "released" : "not released"),
        (e: ServiceError) => e.code,
      );
      expect({ what: r.what, rpc: "release", released }).toEqual({
        what: r.what,
        rpc: "release",
        released: r.invalid ? status.INVALID_ARGUMENT : "not released",
      });
      const kept = await keepAliveCode(client, { name: r.name, leaseId: r.leaseId, ttl: ms(WRONG_TTL_MS) });
      expect({ what: r.what, rpc: "keepAlive", ...kept }).toEqual({
        what: r.what,
        rpc: "keepAlive",
        code: refusedCode,
        messages: 0,
      });
    }

    // Still the owner's, as it was, on every instance: same secret, not renewed, same fencing counter.
    const after = await onInstances(prefix, "owned");
    for (const [i, state] of after.entries()) {
      expect(state.value).toBe(secret);
      expect(state.pttl).toBeGreaterThan(0);
      expect(state.pttl).toBeLessThanOrEqual(before[i]!.pttl);
      expect(state.fence).toBe(before[i]!.fence);
    }
    // The other lease, whose id and name were borrowed above, is untouched too.
    const otherAfter = await onInstances(prefix, "someone-elses");
    for (const [i, state] of otherAfter.entries()) {
      expect(state.value).toBe(otherLeaseId.split(".")[0]);
      expect(state.pttl).toBeLessThanOrEqual(otherBefore[i]!.pttl);
    }
    // And the owner can still use it.
    const renewed = await client.extend({ name: "owned", leaseId, ttl: ms(OWNER_TTL_MS) });
    expect(renewed.lease?.leaseId).toBe(leaseId);
    expect(renewed.lease?.fencingToken).toBe(BigInt(token));
  });

  it("an altered token part changes only what is echoed: the lease, its secret and the fencing counters stay as they were", async () => {
    const { client } = cluster.running;
    const { prefix } = cluster;
    const owned = await client.acquire({ name: "echoed", ttl: ms(OWNER_TTL_MS) });
    const leaseId = owned.lease!.leaseId;
    const [secret, token] = leaseId.split(".") as [string, string];
    const altered = `${secret}.${BigInt(token) + 1000n}`;
    await settledOnInstances(prefix, "echoed", secret);
    const before = await onInstances(prefix, "echoed");

    // This sidecar granted the lease: it keeps reporting the lease's own id and token.
    const here = await client.extend({ name: "echoed", leaseId: altered, ttl: ms(OWNER_TTL_MS) });
    expect(here.lease?.leaseId).toBe(leaseId);
    expect(here.lease?.fencingToken).toBe(BigInt(token));

    // A sidecar that did not grant it (same instances and prefix) can only echo what it was given.
    const second = await runSidecar(testOptions({ instances: cluster.servers.urls, keyPrefix: prefix }));
    try {
      const there = await second.client.extend({ name: "echoed", leaseId: altered, ttl: ms(OWNER_TTL_MS) });
      expect(there.lease?.leaseId).toBe(altered);
      expect(there.lease?.fencingToken).toBe(BigInt(token) + 1000n);
      const kept = await keepAliveCode(second.client, { name: "echoed", leaseId: altered, ttl: ms(OWNER_TTL_MS) }, 300);
      expect(kept.code).toBe(-1); // still open when cancelled: the secret proves ownership
      expect(kept.messages).toBeGreaterThanOrEqual(1);
      // Its owner cancelled the KeepAlive stream: that released the lease (its owner's secret did it) ...
      await eventually(
        async () => (await onInstances(prefix, "echoed")).every((state) => state.value === null),
        2000,
        "echoed released",
      );
    } finally {
      await second.stop();
    }
    // ... and at no point did a fencing counter move.
    const after = await onInstances(prefix, "echoed");
    for (const [i, state] of after.entries()) expect(state.fence).toBe(before[i]!.fence);
  });

  it("sidecars with different key prefixes on the same instances both hold the same lock name, and cannot touch each other's lease", async () => {
    const a = await runSidecar(testOptions({ instances: cluster.servers.urls, keyPrefix: "tenant-a:" }));
    const b = await runSidecar(testOptions({ instances: cluster.servers.urls, keyPrefix: "tenant-b:" }));
    try {
      const leaseA = await a.client.acquire({ name: "shared-name", ttl: ms(OWNER_TTL_MS) });
      const leaseB = await b.client.acquire({ name: "shared-name", ttl: ms(OWNER_TTL_MS) });
      expect(leaseA.acquired).toBe(true);
      expect(leaseB.acquired).toBe(true);
      const idA = leaseA.lease!.leaseId;
      // Tenant B holding A's lease id still cannot move A's lease: B's keys are other keys.
      expect((await b.client.release({ name: "shared-name", leaseId: idA })).released).toBe(false);
      expect(await codeOf(b.client.extend({ name: "shared-name", leaseId: idA, ttl: ms(WRONG_TTL_MS) }))).toBe(
        status.FAILED_PRECONDITION,
      );
      await settledOnInstances("tenant-a:", "shared-name", idA.split(".")[0]!);
      await settledOnInstances("tenant-b:", "shared-name", leaseB.lease!.leaseId.split(".")[0]!);
      expect((await a.client.release({ name: "shared-name", leaseId: idA })).released).toBe(true);
      expect((await b.client.release({ name: "shared-name", leaseId: leaseB.lease!.leaseId })).released).toBe(true);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
