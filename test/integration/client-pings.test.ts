import { fork, type ChildProcess } from "node:child_process";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import { LockClient } from "../../src/client/lock-client.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

const CHILD = new URL("../support/ping-stall-sidecar-child.ts", import.meta.url).pathname;

/**
 * A sidecar held up for longer than LOCK_CLIENT_PING_TIMEOUT just after it
 * pinged a client keeps that client's connection: the ping's answer came in
 * time and waits in the socket. grpc-js' own keepalive closed it (its timer
 * fires before the socket is read), and every lease on the connection ran
 * out: 36,875 of them at 50,000 streams (issue 17).
 */
describe("client pings from a sidecar that was held up", () => {
  let servers: RedisServers | undefined;
  let child: ChildProcess | undefined;
  let client: LockClient | undefined;

  afterAll(async () => {
    client?.close();
    child?.kill("SIGKILL");
    await servers?.stopAll();
  });

  it("keep a live client's connection and its KeepAlive stream", async () => {
    servers = await RedisServers.start(3);
    const messages: { address?: string; held?: boolean }[] = [];
    child = fork(CHILD, [servers.urls.join(","), "200", "300"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.on("message", (m: { address?: string; held?: boolean }) => messages.push(m));
    await eventually(() => messages.some((m) => m.address), 10_000, "sidecar started");
    client = new LockClient(messages.find((m) => m.address)!.address!);
    const lease = (await client.acquire({ name: "pinged", ttl: ms(10_000) })).lease!;
    const renewals: KeepAliveResponse[] = [];
    const errors: ServiceError[] = [];
    const stream = client.keepAlive({ name: "pinged", leaseId: lease.leaseId, ttl: ms(3000) });
    stream.on("data", (m: KeepAliveResponse) => renewals.push(m));
    stream.on("error", (e: ServiceError) => errors.push(e));
    await eventually(() => renewals.length > 0, 3000, "first renewal");

    child.send({ stall: 1500 });
    await eventually(() => messages.some((m) => m.held), 5000, "the sidecar was held up");
    const before = renewals.length;
    // Renewals every second (ttl/3): two more, on the same stream.
    await eventually(() => renewals.length >= before + 2 || errors.length > 0, 5000, "renewals after the hold");
    expect(errors.map((e) => e.details)).toEqual([]);
    stream.cancel();
  });
});
