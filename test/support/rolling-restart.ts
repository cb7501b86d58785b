import { status, type ServiceError } from "@grpc/grpc-js";
import type { LockClient } from "../../src/client/lock-client.ts";
import type { RedisServers } from "./redis-servers.ts";

export interface RollingRestartPlan {
  /** Names the workers take and return, two workers each. */
  names: number;
  /** TTL of each lease, and how long a worker holds it before releasing. */
  leaseTtlMs: number;
  holdMs: number;
  /** Between two restarts; the first comes after one gap too, the run ends one gap after the last. */
  gapMs: number;
  /** Each instance is killed and started again empty, one after another. */
  instances: number;
}

export interface RollingRestartResult {
  calls: number;
  grants: number;
  unavailableCalls: number;
  /** Time covered by calls that answered UNAVAILABLE (their union), in seconds. */
  unavailableSeconds: number;
  /** Wall-clock seconds in which at least one call answered UNAVAILABLE. */
  failingSeconds: number;
  durationSeconds: number;
  /** Grants of a name to one worker while another still held it within its told end (must be 0). */
  overlaps: number;
  /** Fencing tokens that did not increase per name (must be 0). */
  tokenRegressions: number;
  /** For each overlap: how the earlier lease's release went, and by how much the grant came early. */
  overlapDetails: string[];
}

/**
 * The operator's rolling restart: workers keep taking and returning leases
 * while each instance in turn is killed and comes back empty at once (a
 * redeployed Dragonfly without snapshots). Counts how long calls answered
 * UNAVAILABLE, and checks every grant against the previous one's told end.
 */
export async function rollingRestart(
  client: LockClient,
  servers: RedisServers,
  plan: RollingRestartPlan,
): Promise<RollingRestartResult> {
  const failed: [number, number][] = [];
  const result = {
    calls: 0,
    grants: 0,
    unavailableCalls: 0,
    overlaps: 0,
    tokenRegressions: 0,
    overlapDetails: [] as string[],
  };
  /** Per name: who holds it now, until when it was told, and whether it has let go (asked for a release). */
  const holders = new Map<string, { worker: number; endMs: number; lettingGo: boolean }>();
  const lastToken = new Map<string, bigint>();
  let running = true;
  const startedMs = Date.now();

  const worker = async (name: string, id: number): Promise<void> => {
    while (running) {
      const callStart = Date.now();
      result.calls++;
      try {
        const granted = await client.acquire(
          { name, ttl: duration(plan.leaseTtlMs), wait: duration(plan.leaseTtlMs) },
          { deadline: Date.now() + plan.leaseTtlMs * 2 },
        );
        if (!granted.acquired) continue;
        result.grants++;
        const now = Date.now();
        const previous = holders.get(name);
        if (previous && previous.worker !== id && !previous.lettingGo && previous.endMs > now) {
          result.overlaps++;
          result.overlapDetails.push(
            `${name}: granted to worker ${id} ${previous.endMs - now} ms before worker ${previous.worker}'s told end`,
          );
        }
        const token = granted.lease!.fencingToken;
        if (token <= (lastToken.get(name) ?? -1n)) result.tokenRegressions++;
        lastToken.set(name, token);
        const at = granted.lease!.expiresAt!;
        const holder = { worker: id, endMs: Number(at.seconds) * 1000 + Math.floor(at.nanos / 1e6), lettingGo: false };
        holders.set(name, holder);
        await sleep(plan.holdMs);
        // From here on the worker has stopped its work: whatever the release answers, it asked.
        holder.lettingGo = true;
        await client.release({ name, leaseId: granted.lease!.leaseId }).catch(() => undefined);
      } catch (error) {
        if ((error as ServiceError).code !== status.UNAVAILABLE) throw error;
        result.unavailableCalls++;
        failed.push([callStart, Date.now()]);
        await sleep(50);
      }
    }
  };

  // Two workers per name contend for it: a grant to one before the other's told end is an overlap.
  const workers = Array.from({ length: plan.names * 2 }, (_, i) => worker(`rolling-${i % plan.names}`, i));
  for (let i = 0; i < plan.instances; i++) {
    await sleep(plan.gapMs);
    await servers.kill(i);
    await servers.startOne(i);
  }
  await sleep(plan.gapMs);
  running = false;
  await Promise.all(workers);
  const failingSeconds = new Set(failed.flatMap(([from, to]) => secondsBetween(from, to))).size;
  return {
    ...result,
    unavailableSeconds: unionMs(failed) / 1000,
    failingSeconds,
    durationSeconds: (Date.now() - startedMs) / 1000,
  };
}

function duration(ms: number): { seconds: bigint; nanos: number } {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Total length of the union of intervals. */
function unionMs(intervals: [number, number][]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [from, to] = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const [start, end] of sorted) {
    if (start > to) {
      if (to > from) total += to - from;
      [from, to] = [start, end];
    } else {
      to = Math.max(to, end);
    }
  }
  if (to > from) total += to - from;
  return total;
}

function secondsBetween(fromMs: number, toMs: number): number[] {
  const seconds: number[] = [];
  for (let s = Math.floor(fromMs / 1000); s <= Math.floor(toMs / 1000); s++) seconds.push(s);
  return seconds;
}
