import { status, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { statusDetails } from "../../src/errors/grpc-status.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { ms } from "../support/sidecar-fixture.ts";

const failure = (call: Promise<unknown>): Promise<ServiceError> =>
  call.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: ServiceError) => e,
  );

describe("errors a program can act on: google.rpc.ErrorInfo (and BadRequest) in grpc-status-details-bin", () => {
  const cluster = useCluster();

  it("names the field of a bad request, the lock of a lost lease, and the setting of a limit", async () => {
    const { running } = await cluster.start({ count: 3, options: { maxWaiters: 1 } });
    const { client } = running;

    const bad = await failure(client.acquire({ name: "x", ttl: ms(1) }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    const badDetails = statusDetails(bad.metadata);
    expect(badDetails.errorInfo).toMatchObject({ reason: "INVALID_ARGUMENT", domain: "lock.v1" });
    expect(badDetails.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["ttl"]);

    const granted = await client.acquire({ name: "gone", ttl: ms(600) });
    await client.release({ name: "gone", leaseId: granted.lease!.leaseId });
    const gone = await failure(client.extend({ name: "gone", leaseId: granted.lease!.leaseId, ttl: ms(600) }));
    expect(gone.code).toBe(status.FAILED_PRECONDITION);
    expect(statusDetails(gone.metadata).errorInfo).toMatchObject({
      reason: "LEASE_NOT_HELD",
      metadata: { lock: "gone" },
    });

    const holder = await client.acquire({ name: "busy", ttl: ms(5000) });
    const waiting = client.acquire({ name: "busy", ttl: ms(600), wait: ms(2000) });
    await new Promise((r) => setTimeout(r, 100));
    const limited = await failure(client.acquire({ name: "busy-too", ttl: ms(600), wait: ms(2000) }));
    expect(limited.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(statusDetails(limited.metadata).errorInfo).toMatchObject({
      reason: "LIMIT_EXCEEDED",
      metadata: { setting: "LOCK_MAX_WAITERS" },
    });
    await client.release({ name: "busy", leaseId: holder.lease!.leaseId });
    await waiting;
  });

  it("tells an outage (QUORUM_UNAVAILABLE) from a shutdown (SHUTTING_DOWN), though both are UNAVAILABLE", async () => {
    const { running, servers } = await cluster.start({ count: 3, options: { instanceTimeoutMs: 200 } });
    const granted = await running.client.acquire({ name: "kept", ttl: ms(5000) });
    const stream = running.client.keepAlive({ name: "kept", leaseId: granted.lease!.leaseId, ttl: ms(5000) });
    const ended = new Promise<ServiceError>((resolve) => stream.on("error", resolve));
    stream.on("data", () => undefined);

    await servers.kill(0);
    await servers.kill(1);
    const outage = await failure(running.client.acquire({ name: "down", ttl: ms(600) }));
    expect(outage.code).toBe(status.UNAVAILABLE);
    expect(statusDetails(outage.metadata).errorInfo?.reason).toBe("QUORUM_UNAVAILABLE");

    void running.sidecar.stop();
    const shutdown = await ended;
    expect(shutdown.code).toBe(status.UNAVAILABLE);
    expect(statusDetails(shutdown.metadata).errorInfo?.reason).toBe("SHUTTING_DOWN");
  });
});
