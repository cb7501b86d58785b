import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { ChaosCluster } from "./cluster.ts";

/**
 * Found by the chaos campaign (seed 6, 30 s: two sidecars exited with an
 * unhandled "Command timed out" from ioredis), pinned down here with a
 * protocol-aware proxy fault. A sidecar with a waiter subscribes to release
 * notices on every instance. When the subscriber connection to one instance
 * drops and comes back, ioredis re-sends SUBSCRIBE on its own (autoResubscribe)
 * without handling a failure; if that instance does not answer within the
 * command timeout, the rejection is unhandled and Node ends the process.
 */
describe("a sidecar whose release subscription is re-established against a slow instance", () => {
  let cluster: ChaosCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  // Regression: the subscriber connection has no command timeout any more.
  it("keeps running", async () => {
    cluster = await ChaosCluster.start({
      instanceCount: 3,
      sidecarCount: 2,
      sidecarEnv: {
        LOCK_KEY_PREFIX: `resubscribe-${process.pid}:`,
        LOCK_INSTANCE_TIMEOUT: "100ms",
        LOCK_MIN_TTL: "200ms",
        LOCK_DEFAULT_TTL: "1s",
        LOCK_MAX_TTL: "10s",
      },
    });
    await cluster.waitServing(30_000);
    const [holder, waiter] = [cluster.sidecars[0]!, cluster.sidecars[1]!];
    const held = await holder.client.acquire({ name: "x", ttl: durationFromMs(8000), wait: durationFromMs(3000) });
    expect(held.acquired).toBe(true);
    // The waiter subscribes to x's release notices on every instance.
    const waiting = waiter.client
      .acquire({ name: "x", ttl: durationFromMs(1000), wait: durationFromMs(6000) })
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1000));

    // Instance 1, as the waiter sees it: connections drop, and the next SUBSCRIBE goes unanswered.
    const link = cluster.proxies[1]![0]!;
    link.setMode({ kind: "stall-on", pattern: "subscribe" });
    link.resetConnections();
    await new Promise((r) => setTimeout(r, 2000));
    link.setMode({ kind: "pass" });

    expect(waiter.unexpectedExit, waiter.outputTail()).toBeUndefined();
    await holder.client.release({ name: "x", leaseId: held.lease!.leaseId });
    await waiting;
  }, 120_000);
});
