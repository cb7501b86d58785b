import { durationFromMs, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import type { KeepAliveResponse, Lease } from "../../gen/lock/v1/lock_pb.ts";
import type { LockClient } from "../../src/client/lock-client.ts";
import type { ChaosCluster } from "./cluster.ts";
import type { PlannedFault } from "./fault-plan.ts";
import {
  noteFailedCall,
  type FaultRecord,
  type GrantRecord,
  type History,
  type StopReason,
  type WallToMonotonic,
} from "./history.ts";
import { pause } from "./pause.ts";
import type { Prng } from "./prng.ts";

/**
 * The rolling-restart fault (issue 13): every instance in turn is killed
 * and started again empty at once, as a Dragonfly upgrade without snapshots
 * does, with a pause after each restart.
 *
 * Before the first kill, long holders each take a lock of their own and
 * keep it over KeepAlive until one pause after the last restart, so their
 * leases outlive every restart. A challenger per holder asks for the same
 * lock through another sidecar all along. A restarted instance that counts
 * again while it lacks a live lease lets a challenger in: the checker then
 * sees two holders of one lock.
 */

/** Holders per rolling restart, each with its own lock and challenger. */
const HOLDERS = 2;
/** Added to an Acquire's wait for its gRPC deadline. */
const DEADLINE_SLACK_MS = 3000;

/** What the driver needs from the campaign. */
export interface RollingRestartContext {
  cluster: ChaosCluster;
  history: History;
  clock: WallToMonotonic;
  /** Aborted when the campaign's duration is over. */
  stop: AbortSignal;
  /** Lease TTLs the holders ask for: long ones, up to LOCK_MAX_TTL. */
  holderTtlMs: readonly [number, number];
  /** Lease TTLs the challengers ask for: the clients' ones. */
  challengerTtlMs: readonly [number, number];
  nextGrantId(): number;
  count(key: string): void;
  log(line: string): void;
}

/**
 * Runs one planned rolling restart and fills in its record. `applied` is
 * called once the first instance is down (the fault is then in effect).
 */
export async function runRollingRestart(
  ctx: RollingRestartContext,
  fault: PlannedFault,
  record: FaultRecord,
  rng: Prng,
  applied: () => void,
): Promise<void> {
  const { cluster, stop } = ctx;
  const sidecars = cluster.sidecarCount;
  const holders = Array.from({ length: HOLDERS }, (_, k) => {
    const sidecar = rng.int(0, sidecars - 1);
    // Through another sidecar when there is one: its own view of the instances decides.
    const rival = sidecars > 1 ? (sidecar + rng.int(1, sidecars - 1)) % sidecars : sidecar;
    const name = `rolling-${record.id}-${k}`;
    return {
      holder: new LongHolder(ctx, sidecar, name, rng.int(ctx.holderTtlMs[0], ctx.holderTtlMs[1]), `r${record.id}h${k}`),
      rival,
      name,
      k,
    };
  });
  // The holders take their locks first: the lead leaves room for retries through other faults.
  const leadMs = fault.leadMs ?? 0;
  const taken = Promise.all(holders.map(({ holder }) => holder.take(performance.now() + leadMs)));
  await pause(leadMs, stop);
  await taken;
  record.holderGrants = holders.flatMap(({ holder }) => (holder.grant ? [holder.grant.id] : []));
  const over = new AbortController();
  const challengers = holders.map(({ rival, name, k }) =>
    challenge(ctx, rng.fork(`challenger-${k}`), rival, name, `r${record.id}c${k}`, over.signal),
  );
  record.restarts = [];
  try {
    for (const [i, instance] of fault.instances.entries()) {
      if (stop.aborted) break;
      const beganAt = performance.now();
      if (i === 0) record.beganAt = beganAt;
      await cluster.killInstance(instance);
      const killedAt = performance.now();
      if (i === 0) applied();
      await cluster.restartInstance(instance);
      record.restarts.push({ instance, beganAt, killedAt, restartedAt: performance.now() });
      ctx.log(`rolling restart #${record.id}: instance ${instance} restarted empty`);
      await pause(fault.gapsMs?.[i] ?? 0, stop);
    }
  } finally {
    record.endAt = performance.now();
    over.abort();
    await Promise.all(challengers);
    await Promise.all(holders.map(({ holder }) => holder.letGo(stop.aborted ? "campaign-end" : "released")));
  }
}

/**
 * Asks for `name` again and again until `over`: short waits, short holds,
 * each grant recorded like any client's and released soon after.
 */
async function challenge(
  ctx: RollingRestartContext,
  rng: Prng,
  sidecar: number,
  name: string,
  label: string,
  over: AbortSignal,
): Promise<void> {
  const client = ctx.cluster.sidecars[sidecar]!.client;
  while (!over.aborted) {
    const ttlMs = rng.int(ctx.challengerTtlMs[0], ctx.challengerTtlMs[1]);
    const waitMs = rng.chance(0.5) ? 0 : rng.int(100, 500);
    ctx.count("rolling-challenger");
    const requestedAt = performance.now();
    try {
      const response = await client.acquire(
        { name, ttl: durationFromMs(ttlMs), wait: durationFromMs(waitMs) },
        { deadline: Date.now() + waitMs + DEADLINE_SLACK_MS },
      );
      if (response.acquired && response.lease?.expiresAt) {
        ctx.count("rolling-challenger:acquired");
        const grant = grantRecord(ctx, name, label, sidecar, requestedAt, response.lease);
        await pause(rng.int(20, 100));
        grant.stoppedAt = performance.now();
        grant.stopReason = "released";
        await release(ctx, client, sidecar, name, response.lease.leaseId);
      } else ctx.count("rolling-challenger:contended");
    } catch (error) {
      noteFailedCall(ctx.history, "acquire", sidecar, requestedAt, error);
      ctx.count(`rolling-challenger:${status[(error as ServiceError).code] ?? "ERROR"}`);
    }
    await pause(rng.int(50, 200), over);
  }
}

/** One owner that keeps a lock over KeepAlive until it is told to let go. */
class LongHolder {
  readonly #ctx: RollingRestartContext;
  readonly #sidecar: number;
  readonly #name: string;
  readonly #ttlMs: number;
  readonly #label: string;
  #stream: ClientReadableStream<KeepAliveResponse> | undefined;
  #leaseId = "";
  grant: GrantRecord | undefined;

  constructor(ctx: RollingRestartContext, sidecar: number, name: string, ttlMs: number, label: string) {
    this.#ctx = ctx;
    this.#sidecar = sidecar;
    this.#name = name;
    this.#ttlMs = ttlMs;
    this.#label = label;
  }

  get #client(): LockClient {
    return this.#ctx.cluster.sidecars[this.#sidecar]!.client;
  }

  /** Acquires its lock, retrying failures until `untilMs`, then keeps it alive over one KeepAlive stream. */
  async take(untilMs: number): Promise<void> {
    const ctx = this.#ctx;
    ctx.count("rolling-holder");
    for (;;) {
      const waitMs = Math.floor(untilMs - performance.now());
      if (waitMs <= 0 || ctx.stop.aborted) break;
      const requestedAt = performance.now();
      try {
        const response = await this.#client.acquire(
          { name: this.#name, ttl: durationFromMs(this.#ttlMs), wait: durationFromMs(waitMs) },
          { deadline: Date.now() + waitMs + DEADLINE_SLACK_MS },
        );
        if (response.acquired && response.lease?.expiresAt) {
          this.#keep(requestedAt, response.lease);
          return;
        }
      } catch (error) {
        noteFailedCall(ctx.history, "acquire", this.#sidecar, requestedAt, error);
        await pause(50, ctx.stop);
      }
    }
    ctx.count("rolling-holder:not-taken");
  }

  #keep(requestedAt: number, lease: Lease): void {
    const ctx = this.#ctx;
    ctx.count("rolling-holder:acquired");
    const grant = grantRecord(ctx, this.#name, this.#label, this.#sidecar, requestedAt, lease);
    this.grant = grant;
    this.#leaseId = lease.leaseId;
    // Not expire_on_close: the lease is let go by a Release, after the stream is closed.
    const stream = this.#client.keepAlive({
      name: this.#name,
      leaseId: this.#leaseId,
      ttl: durationFromMs(this.#ttlMs),
      expireOnClose: false,
    });
    this.#stream = stream;
    stream.on("data", (message: KeepAliveResponse) => {
      if (grant.stoppedAt !== undefined || !message.lease?.expiresAt) return;
      ctx.count("rolling-holder:renewal");
      grant.renewals.push({ receivedAt: performance.now(), expiresAt: toMonotonic(ctx, message.lease.expiresAt) });
    });
    stream.on("error", (error: ServiceError) => {
      if (error.code === status.CANCELLED || grant.stoppedAt !== undefined) return;
      ctx.count(`rolling-holder:keepalive-${status[error.code] ?? error.code}`);
      // The sidecar says the lease is gone (or going): the holder stops relying on it now.
      this.#stop("lost");
    });
  }

  /** Stops relying on the lock, closes the stream, and releases it. */
  async letGo(reason: StopReason): Promise<void> {
    if (!this.grant) return;
    this.#stop(reason);
    this.#stream?.cancel();
    await release(this.#ctx, this.#client, this.#sidecar, this.#name, this.#leaseId);
  }

  #stop(reason: StopReason): void {
    if (!this.grant || this.grant.stoppedAt !== undefined) return;
    this.grant.stoppedAt = performance.now();
    this.grant.stopReason = reason;
  }
}

function grantRecord(
  ctx: RollingRestartContext,
  name: string,
  label: string,
  sidecar: number,
  requestedAt: number,
  lease: Lease,
): GrantRecord {
  const grant: GrantRecord = {
    id: ctx.nextGrantId(),
    name,
    client: label,
    sidecar,
    fencingToken: lease.fencingToken,
    requestedAt,
    receivedAt: performance.now(),
    expiresAt: toMonotonic(ctx, lease.expiresAt!),
    renewals: [],
  };
  ctx.history.grants.push(grant);
  return grant;
}

async function release(
  ctx: RollingRestartContext,
  client: LockClient,
  sidecar: number,
  name: string,
  leaseId: string,
): Promise<void> {
  ctx.count("release");
  const sentAt = performance.now();
  try {
    const { released } = await client.release({ name, leaseId }, { deadline: Date.now() + 2000 });
    ctx.count(released ? "release:released" : "release:not-held");
  } catch (error) {
    noteFailedCall(ctx.history, "release", sidecar, sentAt, error);
    ctx.count(`release:${status[(error as ServiceError).code] ?? "ERROR"}`);
  }
}

function toMonotonic(ctx: RollingRestartContext, timestamp: Timestamp): number {
  return ctx.clock.toMonotonic(timestampMs(timestamp));
}
