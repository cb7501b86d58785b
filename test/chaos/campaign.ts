import { durationFromMs, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import type { LockClient } from "../../src/client/lock-client.ts";
import { checkHistory, probeClasses, type CheckOptions, type ProbeClass, type Violation } from "./checker.ts";
import { ChaosCluster } from "./cluster.ts";
import { planFaults, targetsOf, type PlannedFault } from "./fault-plan.ts";
import {
  frozenOwnerSettingsProblem,
  startFrozenOwners,
  type FrozenOwner,
  type FrozenOwnerContext,
  type FrozenOwnerSettings,
} from "./frozen-owner.ts";
import {
  emptyHistory,
  FAULT_KINDS,
  noteFailedCall,
  WallToMonotonic,
  type FaultKind,
  type FaultRecord,
  type GrantRecord,
  type History,
  type ProbeRecord,
  type StopReason,
} from "./history.ts";
import { pause } from "./pause.ts";
import { Prng } from "./prng.ts";
import { ProtectedResource } from "./protected-resource.ts";
import { runRollingRestart, type RollingRestartContext } from "./rolling-restart.ts";
import { StallMonitor } from "./stall-monitor.ts";

export interface CampaignConfig {
  seed: number;
  durationMs: number;
  instanceCount: number;
  sidecarCount: number;
  clientsPerSidecar: number;
  /** How many lock names the clients contend for. */
  lockNames: number;
  /** Lease TTLs the clients ask for, drawn uniformly. */
  ttlMinMs: number;
  ttlMaxMs: number;
  /** LOCK_MAX_TTL (also the length of the restart quarantine): room for the frozen owners' TTLs. */
  maxTtlMs: number;
  /** Owners that freeze while they keep a lease alive (frozen-owner.ts), spread over the sidecars; 0: none. */
  frozenOwners: number;
  /** Lease TTLs the frozen owners ask for: longer than a freeze, which is longer than ping interval + timeout. */
  frozenTtlMs: readonly [number, number];
  /** LOCK_CLIENT_PING_INTERVAL and LOCK_CLIENT_PING_TIMEOUT: short, so a freeze of a second or two gets a frozen owner's connection dropped. */
  clientPingIntervalMs: number;
  clientPingTimeoutMs: number;
  /** LOCK_INSTANCE_TIMEOUT. */
  instanceTimeoutMs: number;
  restartQuarantine: "on" | "off";
  faultLanes: number;
  faultGapMs: readonly [number, number];
  faultKinds: readonly FaultKind[];
  /** Lane 0 begins with a fault of this kind (e.g. a rolling restart in every seed); unset: none forced. */
  openingFault?: FaultKind | undefined;
  /** After a fault heals, how long liveness is not judged for what it touched. */
  settleMs: number;
  /** Progress lines (faults as they happen); silent when unset. */
  log?: (line: string) => void;
}

export const DEFAULT_CAMPAIGN: Omit<CampaignConfig, "seed" | "durationMs"> = {
  instanceCount: 3,
  sidecarCount: 3,
  clientsPerSidecar: 2,
  lockNames: 3,
  ttlMinMs: 300,
  ttlMaxMs: 1000,
  // 3 s, not more: it is also the restart quarantine and the quiet wait before the key scan.
  maxTtlMs: 3000,
  // Two, not one per sidecar: each holds a contended name for seconds, and the other clients need turns too.
  frozenOwners: 2,
  frozenTtlMs: [2000, 3000],
  clientPingIntervalMs: 300,
  clientPingTimeoutMs: 300,
  instanceTimeoutMs: 100,
  restartQuarantine: "on",
  faultLanes: 2,
  faultGapMs: [200, 1500],
  faultKinds: FAULT_KINDS,
  settleMs: 2000,
};

export interface CampaignResult {
  config: CampaignConfig;
  plan: PlannedFault[];
  history: History;
  violations: Violation[];
  /** Operation counts by kind and outcome, e.g. "acquire" and "acquire:UNAVAILABLE". */
  operations: Record<string, number>;
  faults: Partial<Record<FaultKind, number>>;
  probes: Record<ProbeClass, number>;
  elapsedMs: number;
}

export function checkOptionsFor(config: CampaignConfig): CheckOptions {
  return {
    overlapToleranceMs: 1,
    maxTtlMs: config.maxTtlMs,
    instanceTimeoutMs: config.instanceTimeoutMs,
    settleMs: config.settleMs,
    quarantineMs: config.restartQuarantine === "on" ? config.maxTtlMs : 0,
    healthyBoundMs: 1500,
    outageBoundMs: 1000,
    toldEndToleranceMs: 2,
  };
}

export function sidecarEnvFor(config: CampaignConfig, keyPrefix: string): Record<string, string> {
  return {
    LOCK_KEY_PREFIX: keyPrefix,
    LOCK_MIN_TTL: `${Math.min(config.ttlMinMs, 2 * config.instanceTimeoutMs)}ms`,
    LOCK_MAX_TTL: `${config.maxTtlMs}ms`,
    LOCK_DEFAULT_TTL: `${config.ttlMaxMs}ms`,
    LOCK_INSTANCE_TIMEOUT: `${config.instanceTimeoutMs}ms`,
    LOCK_RETRY_DELAY: "50ms",
    LOCK_RETRY_JITTER: "50ms",
    LOCK_HEALTH_INTERVAL: "250ms",
    LOCK_SHUTDOWN_GRACE: "2s",
    LOCK_FENCE_RETENTION: "60s",
    LOCK_RESTART_QUARANTINE: config.restartQuarantine,
    LOCK_CLIENT_PING_INTERVAL: `${config.clientPingIntervalMs}ms`,
    LOCK_CLIENT_PING_TIMEOUT: `${config.clientPingTimeoutMs}ms`,
  };
}

export function frozenOwnerSettings(config: CampaignConfig): FrozenOwnerSettings {
  return { ttlMs: config.frozenTtlMs, pingDeadlineMs: config.clientPingIntervalMs + config.clientPingTimeoutMs };
}

/**
 * The end of a campaign is left without faults: once the last ones heal and
 * settle (and a restarted instance's quarantine is over), every probe must
 * be granted again, so a sidecar that does not recover fails the campaign.
 */
export function calmTailMs(
  config: Pick<CampaignConfig, "durationMs" | "settleMs" | "maxTtlMs" | "restartQuarantine">,
): number {
  const recoveryMs = config.settleMs + (config.restartQuarantine === "on" ? config.maxTtlMs : 0) + 500;
  return Math.min(Math.floor(config.durationMs / 4), recoveryMs);
}

/** A liveness probe asks for this TTL: short, so a stray key of its own expires within its wait. */
const PROBE_TTL_MS = 300;
/** A probe's wait while a majority should be reachable (an outage probe does not wait). */
const PROBE_WAIT_MS = 1000;
/** Added to a call's wait for its gRPC deadline: beyond it the call counts as hung. */
const DEADLINE_SLACK_MS = 3000;

/**
 * Runs one campaign: starts the cluster, runs clients, probes and the seeded
 * fault plan for `durationMs`, heals everything, stops the sidecars, waits a
 * max TTL, scans for leftover keys and checks the history.
 */
export async function runCampaign(config: CampaignConfig): Promise<CampaignResult> {
  const log = config.log ?? (() => undefined);
  const problem =
    config.frozenOwners > 0 ? frozenOwnerSettingsProblem(frozenOwnerSettings(config), config.maxTtlMs) : undefined;
  if (problem) throw new Error(`chaos campaign: ${problem}`);
  const keyPrefix = `chaos-${config.seed}-${process.pid}-${Math.floor(performance.now())}:`;
  const plan = planFaults({
    seed: config.seed,
    durationMs: config.durationMs - calmTailMs(config),
    instanceCount: config.instanceCount,
    sidecarCount: config.sidecarCount,
    ttlMaxMs: config.ttlMaxMs,
    maxTtlMs: config.maxTtlMs,
    instanceTimeoutMs: config.instanceTimeoutMs,
    lanes: config.faultLanes,
    gapMs: config.faultGapMs,
    kinds: config.faultKinds,
    opening: config.openingFault,
  });
  const cluster = await ChaosCluster.start({
    instanceCount: config.instanceCount,
    sidecarCount: config.sidecarCount,
    sidecarEnv: sidecarEnvFor(config, keyPrefix),
  });
  try {
    await cluster.waitServing(30_000);
    return await run(config, plan, cluster, keyPrefix, log);
  } finally {
    await cluster.stop();
  }
}

async function run(
  config: CampaignConfig,
  plan: PlannedFault[],
  cluster: ChaosCluster,
  keyPrefix: string,
  log: (line: string) => void,
): Promise<CampaignResult> {
  const root = new Prng(config.seed);
  const clock = new WallToMonotonic();
  const origin = performance.now();
  const history = emptyHistory(origin, config.instanceCount, config.sidecarCount);
  const stalls = new StallMonitor();
  stalls.start();
  const ctx: Context = {
    config,
    cluster,
    history,
    clock,
    resource: new ProtectedResource(),
    operations: {},
    stop: new AbortController(),
    nextId: 1,
    log: (line) => log(`t+${((performance.now() - origin) / 1000).toFixed(2)}s ${line}`),
  };
  ctx.history.resourceFencesReads = ctx.resource.fenceReads;
  const injector = new FaultInjector(ctx, root.fork("fault-injector"));
  const probes = new Probes(ctx, root.fork("probes"), injector);
  injector.onApplied = (sidecars) => probes.outageProbes(sidecars);

  const names = Array.from({ length: config.lockNames }, (_, i) => `lock-${i}`);
  const actors: Promise<void>[] = [];
  for (let s = 0; s < config.sidecarCount; s++) {
    for (let c = 0; c < config.clientsPerSidecar; c++) {
      const client = `s${s}c${c}`;
      actors.push(clientLoop(ctx, root.fork(`client-${client}`), s, client, names));
    }
  }
  const owners = await startOwners(ctx, root);
  actors.push(...owners.map((owner) => owner.run(names)));
  const lanes = Array.from({ length: config.faultLanes }, (_, lane) =>
    injector.runLane(
      plan.filter((f) => f.lane === lane),
      origin,
    ),
  );
  actors.push(probes.loop());

  await pause(config.durationMs, ctx.stop.signal);
  ctx.log("duration reached: healing faults, stopping clients");
  ctx.stop.abort();
  await Promise.allSettled(lanes);
  await cluster.healAll();
  await withBound(Promise.allSettled(actors), 15_000, () => ctx.log("clients did not finish within 15 s"));
  await probes.settled();
  await Promise.allSettled(owners.map((owner) => owner.close()));

  cluster.sidecars.forEach((sidecar, s) => {
    const exit = sidecar.unexpectedExit;
    if (exit) history.crashes.push({ sidecar: s, at: exit.at, how: exit.how, output: sidecar.outputTail() });
  });
  await cluster.stopSidecars();
  const quietSince = performance.now();
  await pause(config.maxTtlMs + 300);
  const keys = await cluster.scanKeys(keyPrefix);
  history.keyScan = { prefix: keyPrefix, quietForMs: performance.now() - quietSince, keys };
  history.resourceOps = ctx.resource.ops;
  stalls.stop();
  history.stalls = stalls.stalls;

  const options = checkOptionsFor(config);
  const faults: Partial<Record<FaultKind, number>> = {};
  for (const f of history.faults) faults[f.kind] = (faults[f.kind] ?? 0) + 1;
  return {
    config,
    plan,
    history,
    violations: checkHistory(history, options),
    operations: ctx.operations,
    faults,
    probes: probeClasses(history, options),
    elapsedMs: performance.now() - origin,
  };
}

interface Context {
  config: CampaignConfig;
  cluster: ChaosCluster;
  history: History;
  clock: WallToMonotonic;
  resource: ProtectedResource;
  operations: Record<string, number>;
  /** Aborted when the campaign's duration is over. */
  stop: AbortController;
  nextId: number;
  log: (line: string) => void;
}

function count(ctx: Context, key: string): void {
  ctx.operations[key] = (ctx.operations[key] ?? 0) + 1;
}

function codeName(error: unknown): string {
  const code = (error as Partial<ServiceError>).code;
  return code === undefined ? "ERROR" : (status[code] ?? `CODE_${code}`);
}

// --- clients ------------------------------------------------------------------------------

/**
 * One application client: acquire a random name (with or without waiting),
 * hold it for a while, using it on the protected resource under its fencing
 * token, then release it, let it expire, or close its KeepAlive stream.
 */
async function clientLoop(
  ctx: Context,
  rng: Prng,
  sidecar: number,
  client: string,
  names: readonly string[],
): Promise<void> {
  const { config } = ctx;
  const lockClient = ctx.cluster.sidecars[sidecar]!.client;
  while (!ctx.stop.signal.aborted) {
    const name = rng.pick(names);
    const ttlMs = rng.int(config.ttlMinMs, config.ttlMaxMs);
    const waitMs = rng.chance(0.3) ? 0 : rng.int(100, 2000);
    const keepAlive = rng.chance(0.4);
    count(ctx, "acquire");
    const requestedAt = performance.now();
    let response;
    try {
      response = await lockClient.acquire(
        { name, ttl: durationFromMs(ttlMs), wait: durationFromMs(waitMs) },
        { deadline: Date.now() + waitMs + DEADLINE_SLACK_MS },
      );
    } catch (error) {
      noteFailedCall(ctx.history, "acquire", sidecar, requestedAt, error);
      count(ctx, `acquire:${codeName(error)}`);
      await pause(rng.int(20, 200), ctx.stop.signal);
      continue;
    }
    const receivedAt = performance.now();
    if (!response.acquired || !response.lease?.expiresAt) {
      count(ctx, "acquire:contended");
      await pause(rng.int(0, 100), ctx.stop.signal);
      continue;
    }
    count(ctx, "acquire:acquired");
    const grant: GrantRecord = {
      id: ctx.nextId++,
      name,
      client,
      sidecar,
      fencingToken: response.lease.fencingToken,
      requestedAt,
      receivedAt,
      expiresAt: toMonotonic(ctx, response.lease.expiresAt),
      renewals: [],
    };
    ctx.history.grants.push(grant);
    await hold(ctx, rng, lockClient, grant, response.lease.leaseId, ttlMs, keepAlive);
    await pause(rng.int(0, 100), ctx.stop.signal);
  }
}

function toMonotonic(ctx: Context, timestamp: Timestamp): number {
  return ctx.clock.toMonotonic(timestampMs(timestamp));
}

async function hold(
  ctx: Context,
  rng: Prng,
  client: LockClient,
  grant: GrantRecord,
  leaseId: string,
  ttlMs: number,
  keepAlive: boolean,
): Promise<void> {
  const { name, fencingToken: token } = grant;
  // The client's own view of its lease, by the same rule as checker.clientInterval.
  let validUntil = grant.expiresAt;
  let stopped = false;
  const stop = (reason: StopReason): void => {
    if (stopped) return;
    stopped = true;
    grant.stoppedAt = performance.now();
    grant.stopReason = reason;
  };
  const renewed = (expiresAt: number): void => {
    const receivedAt = performance.now();
    grant.renewals.push({ receivedAt, expiresAt });
    if (!stopped && receivedAt < validUntil) validUntil = Math.max(validUntil, expiresAt);
  };
  const valid = (): boolean => !stopped && performance.now() < validUntil;

  let stream: ClientReadableStream<KeepAliveResponse> | undefined;
  let streamEnded = false;
  const expireOnClose = keepAlive && rng.chance(0.2);
  if (keepAlive) {
    count(ctx, "keepalive");
    stream = client.keepAlive({ name, leaseId, ttl: durationFromMs(ttlMs), expireOnClose });
    stream.on("data", (message: KeepAliveResponse) => {
      count(ctx, "keepalive:renewal");
      if (message.lease?.expiresAt) renewed(toMonotonic(ctx, message.lease.expiresAt));
    });
    stream.on("error", (error: ServiceError) => {
      streamEnded = true;
      if (error.code === status.CANCELLED) return;
      count(ctx, `keepalive:${codeName(error)}`);
      // The sidecar says the lease is gone (or going): stop using it now.
      stop("lost");
    });
    stream.on("end", () => (streamEnded = true));
  }

  const holdMs = keepAlive
    ? rng.int(Math.round(ttlMs * 0.5), ttlMs * 3)
    : rng.int(Math.round(ttlMs * 0.1), Math.round(ttlMs * 0.8));
  const steps = rng.int(1, 3);
  const extendAt = !keepAlive && rng.chance(0.3) ? rng.int(0, steps - 1) : -1;
  // A client that "pauses" between its last validity check and a write (a
  // unary holder only: a KeepAlive stream would go on renewing meanwhile).
  const zombie = !keepAlive && rng.chance(0.1);
  let version: number | undefined;
  for (let step = 0; step < steps && !stopped; step++) {
    await pause(holdMs / steps, ctx.stop.signal);
    if (step === extendAt && valid()) {
      count(ctx, "extend");
      const sentAt = performance.now();
      try {
        const extended = await client.extend(
          { name, leaseId, ttl: durationFromMs(ttlMs) },
          { deadline: Date.now() + 1000 },
        );
        count(ctx, "extend:ok");
        if (extended.lease?.expiresAt) renewed(toMonotonic(ctx, extended.lease.expiresAt));
      } catch (error) {
        noteFailedCall(ctx.history, "extend", grant.sidecar, sentAt, error);
        count(ctx, `extend:${codeName(error)}`);
        if ((error as ServiceError).code === status.FAILED_PRECONDITION) stop("lost");
      }
    }
    if (!valid()) break;
    // Read-modify-write under the token, checking validity before each request.
    const read = ctx.resource.read(name, grant.id, token);
    count(ctx, read === undefined ? "resource:read-rejected" : "resource:read");
    if (read === undefined) {
      stop("fenced");
      break;
    }
    version = read;
    await pause(rng.int(0, 20), ctx.stop.signal);
    if (!valid()) break;
    const written = ctx.resource.write(name, grant.id, token, version);
    count(ctx, written ? "resource:write" : "resource:write-rejected");
    if (!written) {
      stop("fenced");
      break;
    }
    version++;
    if (ctx.stop.signal.aborted) break;
  }
  if (!stopped && performance.now() >= validUntil) stop("expired");

  if (zombie && version !== undefined && !ctx.stop.signal.aborted) {
    // The write lands after the lease ran out: only the fence can stop it.
    await pause(Math.max(0, validUntil - performance.now()) + rng.int(1, 200), ctx.stop.signal);
    if (!ctx.stop.signal.aborted) {
      const written = ctx.resource.write(name, grant.id, token, version, true);
      count(ctx, written ? "resource:zombie-write-accepted" : "resource:zombie-write-rejected");
    }
  }

  if (stream) {
    if (!stopped) stop(ctx.stop.signal.aborted ? "campaign-end" : "stream-closed");
    if (!streamEnded) stream.cancel();
    return;
  }
  if (!stopped) {
    // Mostly released; otherwise the client walks away and the lease runs
    // until its expiry (its interval says so too).
    if (!ctx.stop.signal.aborted && !rng.chance(0.85)) return;
    stop("released");
  } else if (!rng.chance(0.5)) {
    // Already over (expired, lost, fenced): a release is a harmless no-op, sometimes sent anyway.
    return;
  }
  count(ctx, "release");
  const sentAt = performance.now();
  try {
    const { released } = await client.release({ name, leaseId }, { deadline: Date.now() + 2000 });
    count(ctx, released ? "release:released" : "release:not-held");
  } catch (error) {
    noteFailedCall(ctx.history, "release", grant.sidecar, sentAt, error);
    count(ctx, `release:${codeName(error)}`);
  }
}

/** The campaign's side of the frozen owners (frozen-owner.ts). */
function startOwners(ctx: Context, root: Prng): Promise<FrozenOwner[]> {
  const ownerCtx: FrozenOwnerContext = {
    history: ctx.history,
    clock: ctx.clock,
    stop: ctx.stop.signal,
    endsAt: ctx.history.origin + ctx.config.durationMs,
    nextGrantId: () => ctx.nextId++,
    count: (key) => count(ctx, key),
    log: ctx.log,
  };
  return startFrozenOwners(
    ownerCtx,
    root,
    frozenOwnerSettings(ctx.config),
    ctx.config.frozenOwners,
    ctx.cluster.sidecars.map((s) => s.address),
  );
}

// --- probes --------------------------------------------------------------------------------

/** Liveness probes: Acquires of fresh names, so the only thing that can refuse them is an outage. */
class Probes {
  readonly #ctx: Context;
  readonly #rng: Prng;
  readonly #injector: FaultInjector;
  readonly #inFlight = new Set<Promise<void>>();
  #next = 1;

  constructor(ctx: Context, rng: Prng, injector: FaultInjector) {
    this.#ctx = ctx;
    this.#rng = rng;
    this.#injector = injector;
  }

  async loop(): Promise<void> {
    const { config, stop } = this.#ctx;
    while (!stop.signal.aborted) {
      await pause(this.#rng.int(250, 600), stop.signal);
      if (stop.signal.aborted) break;
      this.#send(this.#rng.int(0, config.sidecarCount - 1));
    }
  }

  /** Right after a fault that leaves some sidecars without a majority: probe them. */
  outageProbes(sidecars: readonly number[]): void {
    for (const s of sidecars) {
      setTimeout(() => {
        if (!this.#ctx.stop.signal.aborted) this.#send(s);
      }, 100);
    }
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  #send(sidecar: number): void {
    const ctx = this.#ctx;
    const target = ctx.cluster.sidecars[sidecar]!;
    if (target.paused) return;
    const quorum = Math.floor(ctx.config.instanceCount / 2) + 1;
    const waitMs = this.#injector.reachableFrom(sidecar) < quorum ? 0 : PROBE_WAIT_MS;
    const id = this.#next++;
    const probe: ProbeRecord = {
      id,
      sidecar,
      name: `probe-${id}`,
      waitMs,
      sentAt: performance.now(),
      endedAt: 0,
      outcome: "error",
    };
    count(ctx, "probe");
    const done = (async () => {
      try {
        const response = await target.client.acquire(
          { name: probe.name, ttl: durationFromMs(PROBE_TTL_MS), wait: durationFromMs(waitMs) },
          { deadline: Date.now() + waitMs + DEADLINE_SLACK_MS },
        );
        probe.endedAt = performance.now();
        probe.outcome = response.acquired ? "acquired" : "not-acquired";
        if (response.acquired && response.lease) {
          target.client
            .release({ name: probe.name, leaseId: response.lease.leaseId }, { deadline: Date.now() + 2000 })
            .catch(() => undefined);
        }
      } catch (error) {
        probe.endedAt = performance.now();
        probe.code = (error as ServiceError).code;
      }
      count(ctx, `probe:${probe.outcome === "error" ? codeName({ code: probe.code }) : probe.outcome}`);
      ctx.history.probes.push(probe);
    })();
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }
}

// --- faults ----------------------------------------------------------------------------------

/** Carries out planned faults on the cluster and records them as they really happened. */
class FaultInjector {
  readonly #ctx: Context;
  readonly #rng: Prng;
  readonly #busy = new Set<string>();
  #nextId = 1;
  /** Told which sidecars a fault just cut off from a majority. */
  onApplied: (sidecars: number[]) => void = () => undefined;

  constructor(ctx: Context, rng: Prng) {
    this.#ctx = ctx;
    this.#rng = rng;
  }

  /** How many instances sidecar `s` should reach now, by what the injector has done. */
  reachableFrom(sidecar: number): number {
    const { cluster, config } = this.#ctx;
    let up = 0;
    for (let i = 0; i < cluster.instanceCount; i++) {
      const mode = cluster.link(sidecar, i);
      const linkUp = mode.kind === "pass" || (mode.kind === "delay" && 2 * mode.ms < config.instanceTimeoutMs);
      if (linkUp && cluster.instanceUp(i)) up++;
    }
    return up;
  }

  async runLane(faults: readonly PlannedFault[], origin: number): Promise<void> {
    const { stop } = this.#ctx;
    for (const fault of faults) {
      await pause(origin + fault.atMs - performance.now(), stop.signal);
      if (stop.signal.aborted) return;
      const targets = targetsOf(fault);
      if (targets.some((t) => this.#busy.has(t))) {
        // The other lane's fault ran late on a shared target: skip rather than stack.
        count(this.#ctx, `fault-skipped:${fault.kind}`);
        continue;
      }
      targets.forEach((t) => this.#busy.add(t));
      try {
        await this.#execute(fault);
      } catch (error) {
        this.#ctx.log(`fault ${fault.kind} failed: ${error instanceof Error ? error.message : String(error)}`);
        count(this.#ctx, `fault-failed:${fault.kind}`);
      } finally {
        targets.forEach((t) => this.#busy.delete(t));
      }
    }
  }

  async #execute(f: PlannedFault): Promise<void> {
    const { cluster, stop, history } = this.#ctx;
    const beganAt = performance.now();
    const record: FaultRecord = {
      id: this.#nextId++,
      kind: f.kind,
      instances: f.instances,
      sidecars: f.sidecars,
      links: f.links,
      beganAt,
      startAt: beganAt,
      endAt: beganAt,
    };
    if (f.delayMs !== undefined) record.delayMs = f.delayMs;
    if (f.heal !== undefined) record.heal = f.heal;
    const describe = `${f.kind}${f.instances.length ? ` instances ${f.instances.join(",")}` : ""}${f.sidecars.length ? ` sidecars ${f.sidecars.join(",")}` : ""}${f.kind === "sidecar-partition" ? "" : f.links.map((l) => ` link s${l.sidecar}->i${l.instance}`).join("")}${f.delayMs !== undefined ? ` +${f.delayMs}ms` : ""}${f.gapsMs ? `, gaps ${f.gapsMs.join("/")} ms` : ""} for ${f.durationMs} ms${f.heal ? `, heal by ${f.heal}` : ""}`;
    const cutOff = (): number[] => {
      const quorum = Math.floor(cluster.instanceCount / 2) + 1;
      return Array.from({ length: cluster.sidecarCount }, (_, s) => s).filter(
        (s) => !cluster.sidecars[s]!.paused && this.reachableFrom(s) < quorum,
      );
    };
    const applied = (): void => {
      record.startAt = performance.now();
      this.#ctx.log(`fault #${record.id}: ${describe}`);
      const sidecars = cutOff();
      if (sidecars.length > 0) this.onApplied(sidecars);
    };
    const holdFor = async (): Promise<void> => {
      await pause(f.durationMs, stop.signal);
      record.endAt = performance.now();
    };
    switch (f.kind) {
      case "rolling-restart":
        await runRollingRestart(
          this.#rollingContext(),
          f,
          record,
          this.#rng.fork(`rolling-restart-${record.id}`),
          applied,
        );
        break;
      case "instance-kill-restart":
      case "instance-kill-delayed-restart":
        for (const i of f.instances) await cluster.killInstance(i);
        applied();
        await holdFor();
        for (const i of f.instances) await cluster.restartInstance(i);
        record.restartedAt = performance.now();
        break;
      case "instance-pause-minority":
      case "instance-pause-majority":
      case "instance-pause-all":
        f.instances.forEach((i) => cluster.pauseInstance(i));
        applied();
        await holdFor();
        f.instances.forEach((i) => cluster.resumeInstance(i));
        break;
      case "sidecar-pause":
        f.sidecars.forEach((s) => cluster.sidecars[s]!.pause());
        applied();
        await holdFor();
        f.sidecars.forEach((s) => cluster.sidecars[s]!.resume());
        break;
      case "link-delay":
        f.links.forEach((l) => cluster.setLink(l.sidecar, l.instance, { kind: "delay", ms: f.delayMs ?? 0 }));
        applied();
        await holdFor();
        f.links.forEach((l) => cluster.setLink(l.sidecar, l.instance, { kind: "pass" }));
        break;
      case "link-blackhole":
      case "sidecar-partition":
        f.links.forEach((l) => cluster.setLink(l.sidecar, l.instance, { kind: "blackhole" }));
        applied();
        await holdFor();
        for (const l of f.links) {
          if (f.heal === "reset") cluster.setLink(l.sidecar, l.instance, { kind: "reset" });
          cluster.setLink(l.sidecar, l.instance, { kind: "pass" });
        }
        break;
      case "link-reset":
        f.links.forEach((l) => cluster.setLink(l.sidecar, l.instance, { kind: "reset" }));
        applied();
        await holdFor();
        f.links.forEach((l) => cluster.setLink(l.sidecar, l.instance, { kind: "pass" }));
        break;
    }
    history.faults.push(record);
  }

  #rollingContext(): RollingRestartContext {
    const ctx = this.#ctx;
    return {
      cluster: ctx.cluster,
      history: ctx.history,
      clock: ctx.clock,
      stop: ctx.stop.signal,
      // Long leases, up to LOCK_MAX_TTL: the quarantine's bound must cover them, and the
      // renewals, a third of a TTL apart, ride out the outages between quarantines.
      holderTtlMs: [Math.round((ctx.config.maxTtlMs * 2) / 3), ctx.config.maxTtlMs],
      challengerTtlMs: [ctx.config.ttlMinMs, ctx.config.ttlMaxMs],
      nextGrantId: () => ctx.nextId++,
      count: (key) => count(ctx, key),
      log: ctx.log,
    };
  }
}

// --- helpers ---------------------------------------------------------------------------------------

async function withBound(work: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  if ((await Promise.race([work.then(() => "done" as const), timedOut])) === "timeout") onTimeout();
  clearTimeout(timer);
}
