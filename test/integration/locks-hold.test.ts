import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LeaseLostError,
  LockClientError,
  LockNotAcquiredError,
  LockUnavailableError,
  Locks,
} from "../../src/client/index.ts";
import { freePort } from "../support/redis-servers.ts";
import { useSharedCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

/** The high-level client (Locks, Lease) against a real sidecar on three redis-server processes. */
describe("Locks: hold a lock while work runs", () => {
  const cluster = useSharedCluster();
  let locks: Locks;
  beforeAll(() => {
    locks = new Locks({ address: cluster.running.sidecar.address });
  });
  afterAll(() => locks.close());

  const keys = (name: string) => Promise.all(cluster.redis.map((r) => r.get(`${cluster.prefix}lock:${name}`)));
  const isFree = async (name: string) => (await keys(name)).every((v) => v === null);

  it("runs the callback while held, passes the lease and its signal, releases when it settles", async () => {
    let seen: { held: (string | null)[]; aborted: boolean; token: bigint } | undefined;
    const result = await locks.hold("c-work", { ttl: "2s", owner: "test" }, async (lease, signal) => {
      seen = { held: await keys("c-work"), aborted: signal.aborted, token: lease.fencingToken };
      expect(signal).toBe(lease.signal);
      return "done";
    });
    expect(result).toBe("done");
    expect(seen!.aborted).toBe(false);
    expect(seen!.held.filter((v) => v !== null).length).toBeGreaterThanOrEqual(2);
    // Released by the time hold() resolved: the next holder needs no wait.
    expect(await isFree("c-work")).toBe(true);
    const next = await cluster.running.client.acquire({ name: "c-work", ttl: ms(1000) });
    expect(next.acquired).toBe(true);
    expect(next.lease!.fencingToken).toBeGreaterThan(seen!.token);
    await cluster.running.client.release({ name: "c-work", leaseId: next.lease!.leaseId });
  });

  it("releases when the callback throws, and passes its error on", async () => {
    const failure = new Error("work failed");
    await expect(locks.hold("c-throw", { ttl: 2000 }, () => Promise.reject(failure))).rejects.toBe(failure);
    expect(await isFree("c-throw")).toBe(true);
  });

  it("keeps the lease past its TTL while the callback runs (the Hold renews it)", async () => {
    await locks.hold("c-long", { ttl: "600ms" }, async (lease, signal) => {
      const first = lease.expiresAt.getTime();
      await new Promise((r) => setTimeout(r, 1300));
      expect(signal.aborted).toBe(false);
      expect(lease.expiresAt.getTime()).toBeGreaterThan(first);
      expect(lease.expiresAt.getTime()).toBeGreaterThan(Date.now());
      expect((await cluster.running.client.acquire({ name: "c-long" })).acquired).toBe(false);
    });
  });

  it("rejects with LockNotAcquiredError and retryAfterMs when the lock stays held for the whole wait", async () => {
    await locks.hold("c-busy", { ttl: "5s" }, async () => {
      const started = Date.now();
      const error = await locks.hold("c-busy", { wait: "300ms" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockNotAcquiredError);
      expect(error).toMatchObject({ code: "not-acquired", lockName: "c-busy" });
      expect((error as LockNotAcquiredError).retryAfterMs).toBeGreaterThan(3000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    });
  });

  it("an `await using` lease is released at the end of its scope; release() answers whether it was held", async () => {
    let token: bigint;
    {
      await using lease = await locks.hold("c-scope", { ttl: "5s" });
      token = lease.fencingToken;
      expect(await isFree("c-scope")).toBe(false);
    }
    expect(await isFree("c-scope")).toBe(true);
    const lease = await locks.hold("c-scope", { ttl: "5s" });
    expect(lease.fencingToken).toBeGreaterThan(token);
    expect(await lease.release()).toBe(true);
    expect(await lease.release()).toBe(true);
    expect(await isFree("c-scope")).toBe(true);
    expect(lease.signal.aborted).toBe(false);
    await expect(lease.extend("1s")).rejects.toMatchObject({ code: "ended" });
  });

  it("expireOnClose leaves the lease to run out at its end instead of releasing it", async () => {
    {
      await using lease = await locks.hold("c-expire", { ttl: "1s", expireOnClose: true });
      expect(lease.ttlMs).toBe(1000);
    }
    expect(await isFree("c-expire")).toBe(false);
    await eventually(() => isFree("c-expire"), 3000, "the lease to run out");
  });

  it("extend() pushes expiresAt out; the hold keeps it", async () => {
    await using lease = await locks.hold("c-extend", { ttl: "1s" });
    await lease.extend("1m");
    expect(lease.expiresAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
    const pexpire = await cluster.redis[0]!.pttl(`${cluster.prefix}lock:c-extend`);
    expect(pexpire).toBeGreaterThan(50_000);
  });

  it("signal aborts with LeaseLostError (revoked) when the lease is taken away, and hold() rejects with it", async () => {
    const outcome = locks.hold("c-revoked", { ttl: "1s" }, async (_lease, signal) => {
      await Promise.all(cluster.redis.map((r) => r.set(`${cluster.prefix}lock:c-revoked`, "someone-else")));
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      expect(signal.reason).toBeInstanceOf(LeaseLostError);
      return "finished anyway";
    });
    const error = await outcome.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error).toMatchObject({ code: "lease-lost", reason: "revoked", lockName: "c-revoked" });
    // The new holder's keys are untouched by the release that followed.
    expect(await keys("c-revoked")).toEqual(["someone-else", "someone-else", "someone-else"]);
    await Promise.all(cluster.redis.map((r) => r.del(`${cluster.prefix}lock:c-revoked`)));
  });

  it("rejects options it cannot read, naming them, before any call", async () => {
    await expect(locks.hold("c-bad", { ttl: "ten" })).rejects.toThrow(/ttl: "ten" is not a duration/);
    await expect(locks.hold("c-bad", { wait: -1 })).rejects.toMatchObject({ code: "invalid-argument" });
    // One the sidecar refuses: below its minimum TTL.
    const refused = await locks.hold("c-bad", { ttl: 1 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockClientError);
    expect(refused).toMatchObject({ code: "invalid-argument", message: expect.stringMatching(/ttl/) });
  });

  it("gives up the wait when the caller's signal aborts", async () => {
    await locks.hold("c-abort", { ttl: "5s" }, async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("shutting down")), 200);
      await expect(locks.hold("c-abort", { wait: "10s", signal: controller.signal })).rejects.toThrow("shutting down");
    });
  });

  it("LockUnavailableError when no sidecar answers", async () => {
    const nowhere = new Locks({ address: `127.0.0.1:${await freePort()}` });
    try {
      const error = await nowhere.hold("c-nowhere").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockUnavailableError);
      expect(error).toMatchObject({
        code: "unavailable",
        message: expect.stringMatching(/^hold "c-nowhere": UNAVAILABLE: connection refused/),
      });
    } finally {
      nowhere.close();
    }
  });
});
