import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { status, type ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { AcquireResponse } from "../../gen/lock/v1/lock_pb.ts";
import { checkExclusion, checkResource } from "./checker.ts";
import { ChaosCluster } from "./cluster.ts";
import { emptyHistory, WallToMonotonic, type GrantRecord } from "./history.ts";
import { ProtectedResource } from "./protected-resource.ts";

// Long enough that the steps below fit in A's lease even on a starved machine.
const MAX_TTL_MS = 10_000;
const LEASE_TTL_MS = 8000;

/**
 * Why the restart quarantine matters, deterministically. Three instances,
 * sidecars A and B as processes:
 *   1. instance 3 is stopped (SIGSTOP);
 *   2. client A acquires through sidecar A: only instances 1 and 2 take the key;
 *   3. instance 3 resumes (it never saw A's key);
 *   4. instance 1 is killed and restarted empty: A's key now lives on 2 only;
 *   5. client B asks sidecar B while A's lease is valid.
 * Without quarantine B gets instances 1 (empty) and 3: a second holder. With
 * it, instance 1 stays out of every quorum for the max TTL and B is refused.
 */
describe("restart quarantine (LOCK_RESTART_QUARANTINE)", () => {
  let cluster: ChaosCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  async function scenario(quarantine: "on" | "off") {
    cluster = await ChaosCluster.start({
      instanceCount: 3,
      sidecarCount: 2,
      sidecarEnv: {
        LOCK_KEY_PREFIX: `quarantine-${quarantine}-${process.pid}:`,
        LOCK_RESTART_QUARANTINE: quarantine,
        LOCK_MAX_TTL: `${MAX_TTL_MS}ms`,
        LOCK_MIN_TTL: "200ms",
        LOCK_DEFAULT_TTL: "1s",
        LOCK_INSTANCE_TIMEOUT: "100ms",
        LOCK_RETRY_DELAY: "50ms",
        LOCK_RETRY_JITTER: "50ms",
        LOCK_HEALTH_INTERVAL: "200ms",
      },
    });
    await cluster.waitServing(30_000);
    const clock = new WallToMonotonic();
    const history = emptyHistory(performance.now(), 3, 2);
    const a = cluster.sidecars[0]!.client;
    const b = cluster.sidecars[1]!.client;
    const record = (
      id: number,
      client: string,
      sidecar: number,
      requestedAt: number,
      response: AcquireResponse,
    ): GrantRecord => {
      const grant: GrantRecord = {
        id,
        name: "reports",
        client,
        sidecar,
        fencingToken: response.lease!.fencingToken,
        requestedAt,
        receivedAt: performance.now(),
        expiresAt: clock.toMonotonic(timestampMs(response.lease!.expiresAt!)),
        renewals: [],
      };
      history.grants.push(grant);
      return grant;
    };

    cluster.pauseInstance(2);
    let requestedAt = performance.now();
    // Waiting rides over attempts lost to a busy machine; instance 3 never answers.
    const first = await a.acquire({ name: "reports", ttl: durationFromMs(LEASE_TTL_MS), wait: durationFromMs(3000) });
    expect(first.acquired).toBe(true);
    const grantA = record(1, "A", 0, requestedAt, first);
    cluster.resumeInstance(2);

    await cluster.killInstance(0);
    await cluster.restartInstance(0);

    requestedAt = performance.now();
    // Waiting rides over B's reconnect to the restarted instance, well within A's lease.
    // An UNAVAILABLE answer (a starved machine) is no grant either.
    const second = await b
      .acquire({ name: "reports", ttl: durationFromMs(LEASE_TTL_MS), wait: durationFromMs(3000) })
      .catch((error: unknown) => {
        if ((error as ServiceError).code !== status.UNAVAILABLE) throw error;
        return undefined;
      });
    const grantB = second?.acquired ? record(2, "B", 1, requestedAt, second) : undefined;
    // All of this happened while A's lease was still valid.
    expect(performance.now()).toBeLessThan(grantA.expiresAt);

    // Both "holders" use the fenced resource, interleaved as overlapping holders would.
    const resource = new ProtectedResource();
    const readA = resource.read("reports", 1, grantA.fencingToken);
    const readB = grantB ? resource.read("reports", 2, grantB.fencingToken) : undefined;
    const wroteA = readA !== undefined && resource.write("reports", 1, grantA.fencingToken, readA);
    if (grantB && readB !== undefined) resource.write("reports", 2, grantB.fencingToken, readB);
    history.resourceOps = resource.ops;

    await a.release({ name: "reports", leaseId: first.lease!.leaseId });
    if (second?.lease) await b.release({ name: "reports", leaseId: second.lease.leaseId });
    return { history, second, grantA, grantB, wroteA };
  }

  it("off: a second holder is granted the lock while the first lease is valid, and the checker reports it", async () => {
    const { history, second, grantA, grantB, wroteA } = await scenario("off");
    expect(second?.acquired).toBe(true);
    const violations = checkExclusion(history, { overlapToleranceMs: 1, maxTtlMs: MAX_TTL_MS });
    expect(violations).toHaveLength(1);
    expect(violations[0]!.message).toMatch(/lock "reports": grant #1 \(client A.*but grant #2 \(client B/);
    // The fencing token still orders them, and the fenced resource turns A away:
    // the overlap costs the resource nothing.
    expect(grantB!.fencingToken).toBeGreaterThan(grantA.fencingToken);
    expect(wroteA).toBe(false);
    expect(checkResource(history)).toEqual([]);
  }, 120_000);

  it("on: the restarted instance is kept out of the quorum, so nobody else gets the lock", async () => {
    const { history, second } = await scenario("on");
    expect(second?.acquired ?? false).toBe(false);
    expect(checkExclusion(history, { overlapToleranceMs: 1, maxTtlMs: MAX_TTL_MS })).toEqual([]);
    expect(checkResource(history)).toEqual([]);
  }, 120_000);
});
