import { status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisServers } from "../support/redis-servers.ts";
import { ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

/**
 * An Acquire admitted while the sidecar kept up, whose instance answers then
 * could not be read in time: when the sidecar is overloaded by then, it says
 * so (RESOURCE_EXHAUSTED, OVERLOADED) rather than reporting an outage; when
 * it is not, the outage it is (UNAVAILABLE). At ~50,000 streams a saturated
 * sidecar answered UNAVAILABLE though every instance was fine.
 */
describe("an Acquire that fails for lack of answers", () => {
  let servers: RedisServers;
  let running: Running;
  /** Renewal lag read by each overload check, in turn; 0 once used up. */
  const lag: number[] = [];

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    const options = testOptions({ instances: servers.urls, keyPrefix: `outage-${process.pid}:`, overloadLagMs: 100 });
    // Each case starts unloaded: no settle time carried over from the case before.
    options.overloadSettleMs = 0;
    running = await runSidecar(options, {
      loadSignals: { renewalLagMs: () => lag.shift() ?? 0, eventLoopDelayMs: () => 0 },
      // Only calls read the scripted lag: the first read is the admission's, the second the failure's.
      loadWatchMs: 0,
    });
    await running.client.acquire({ name: "warm", ttl: ms(1000) });
  });

  afterAll(async () => {
    await running?.stop();
    await servers?.stopAll();
  });

  async function acquireWithTwoPaused(lagAfterAdmission: number, how: "acquire" | "hold" = "acquire") {
    lag.splice(0, lag.length, 0, lagAfterAdmission);
    servers.pause(1);
    servers.pause(2);
    try {
      if (how === "hold") {
        const stream = running.client.hold({ name: "job", ttl: ms(5000) });
        return await new Promise<ServiceError | undefined>((resolve) => {
          stream.once("data", () => resolve(undefined));
          stream.once("error", (e: ServiceError) => resolve(e));
        });
      }
      return await running.client.acquire({ name: "job", ttl: ms(5000) }).then(
        () => undefined,
        (e: ServiceError) => e,
      );
    } finally {
      servers.resume(1);
      servers.resume(2);
    }
  }

  it("is RESOURCE_EXHAUSTED when the sidecar is overloaded by the time it fails", async () => {
    const error = await acquireWithTwoPaused(300);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toMatch(/overloaded: renewals of held leases are running 300 ms late/);
  });

  it("through Hold too", async () => {
    const error = await acquireWithTwoPaused(300, "hold");
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("is UNAVAILABLE when it is not", async () => {
    const error = await acquireWithTwoPaused(0);
    expect(error?.code).toBe(status.UNAVAILABLE);
  });
});
