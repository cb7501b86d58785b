import { afterEach, describe, expect, it } from "vitest";
import { LeaseLostError, Locks, type Lease } from "../../src/client/index.ts";
import { TcpProxy } from "../chaos/tcp-proxy.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, type Running } from "../support/sidecar-fixture.ts";

/** How the high-level client learns that a lease is gone, and retries that are safe. */
describe("Locks: losing a lease, and retrying a hold", () => {
  const cluster = useCluster();
  const opened: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const thing of opened.splice(0).reverse()) await thing.close();
  });

  /** A sidecar on three instances, and Locks reaching it through a proxy that can cut or stall the connection. */
  async function start(): Promise<{
    running: Running;
    locks: Locks;
    proxy: TcpProxy;
    keys: (name: string) => Promise<(string | null)[]>;
  }> {
    const { running, prefix } = await cluster.start({ count: 3 });
    const proxy = await TcpProxy.start(Number(running.sidecar.address.split(":")[1]));
    const locks = new Locks({ address: `127.0.0.1:${proxy.port}` });
    opened.push(proxy, locks);
    return {
      running,
      locks,
      proxy,
      keys: (name) => Promise.all(cluster.redis.map((r) => r.get(`${prefix}lock:${name}`))),
    };
  }

  const lossOf = (lease: Lease): Promise<LeaseLostError> =>
    new Promise((resolve) =>
      lease.signal.addEventListener("abort", () => resolve(lease.signal.reason as LeaseLostError), { once: true }),
    );

  it("signal aborts (expired) at the last expiresAt when renewals stop arriving, though the call never ends", async () => {
    const { locks, proxy } = await start();
    const lease = await locks.hold("l-expired", { ttl: "1s" });
    const lost = lossOf(lease);
    // A partition: nothing arrives, nothing fails.
    proxy.setMode({ kind: "blackhole" });
    const lastEnd = lease.expiresAt.getTime();
    const error = await lost;
    expect(Date.now()).toBeGreaterThanOrEqual(lastEnd);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error).toMatchObject({ reason: "expired", lockName: "l-expired" });
    expect(error.message).toMatch(/no renewal arrived before its expiresAt/);
    proxy.setMode({ kind: "reset" });
    await lease[Symbol.asyncDispose]();
  });

  it("signal aborts (ended) when the hold ends without the owner asking: the sidecar shut down", async () => {
    const { running, locks } = await start();
    const lease = await locks.hold("l-ended", { ttl: "5s" });
    const lost = lossOf(lease);
    await running.sidecar.stop();
    const error = await lost;
    expect(error).toMatchObject({ code: "lease-lost", reason: "ended" });
    expect(error.message).toMatch(/the hold ended \(UNAVAILABLE: .*\); the lease runs out at /);
    await lease[Symbol.asyncDispose]();
  });

  it("a hold whose grant was lost on the way is retried with the same request id and gets that lease, not 'held elsewhere'", async () => {
    const { locks, proxy, keys } = await start();
    // Answers take a while to come back: long enough to cut the connection after the grant, before its answer.
    proxy.setMode({ kind: "delay", ms: 1000 });
    const holding = locks.hold("l-retry", { ttl: "10s" });
    // On every instance, and a moment more: the sidecar has judged the grant by then. A reset
    // while it still judges cancels the attempt, which is rolled back instead (also correct).
    await eventually(
      async () => (await keys("l-retry")).filter((v) => v !== null).length >= 3,
      5000,
      "the grant on the instances",
    );
    await new Promise((r) => setTimeout(r, 200));
    const granted = (await keys("l-retry")).find((v) => v !== null);
    proxy.resetConnections();
    proxy.setMode({ kind: "pass" });
    const lease = await holding;
    // The lease the first attempt was granted: its secret is on the instances.
    expect(lease.leaseId.split(".")[0]).toBe(granted?.split(" ")[0]);
    expect(proxy.accepted).toBeGreaterThanOrEqual(2);
    expect(await lease.release()).toBe(true);
  });
});
