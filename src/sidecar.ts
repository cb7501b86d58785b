import { Server } from "@grpc/grpc-js";
import { file_lock_v1_lock, LockService } from "../gen/lock/v1/lock_pb.ts";
import { type AdminServer, startAdminServer } from "./admin/admin-server.ts";
import { sidecarStatus } from "./admin/sidecar-status.ts";
import { ListenError } from "./config/listen-error.ts";
import type { SidecarOptions } from "./config/options.ts";
import { packageVersion } from "./config/version.ts";
import { LeaseSessions } from "./engine/lease-sessions.ts";
import { type EngineDeps, LockEngine } from "./engine/lock-engine.ts";
import { ClientPings } from "./server/client-pings.ts";
import { LockError } from "./errors/lock-error.ts";
import { InstanceTlsFiles } from "./tls/instance-tls.ts";
import type { LockInstance } from "./instances/lock-instance.ts";
import { type Logger, silentLogger } from "./log/logger.ts";
import { SidecarMetrics } from "./metrics/sidecar-metrics.ts";
import { ProcessLoad } from "./server/process-load.ts";
import { serverServiceDefinition } from "./server/grpc-service-definition.ts";
import { QuorumHealth } from "./server/health.ts";
import { lockServiceImplementation } from "./server/lock-service.ts";
import { type LoadSignals, OverloadGuard } from "./engine/overload-guard.ts";
import { addReflection } from "./server/reflection.ts";
import { apiCredentials } from "./server/tls-credentials.ts";
import { rejectUnreadableRequests } from "./server/unreadable-request.ts";
import type { Tracing } from "./tracing/tracing.ts";
import { systemClock } from "./util/clock.ts";
import { createInstances, guardInstances } from "./sidecar-instances.ts";

export interface SidecarDeps extends EngineDeps {
  logger?: Logger;
  /** Instances to use instead of those named in the options (tests). */
  instances?: LockInstance[];
  /** Load signals to judge overload by instead of the measured ones (tests). */
  loadSignals?: Partial<LoadSignals>;
  /** How often those are read between calls, in ms; 0: only when a call asks (tests that script each reading). */
  loadWatchMs?: number;
  /**
   * Spans for calls and instance calls (see startTracing). Without it nothing
   * is traced, and no tracing code runs. The caller shuts it down.
   */
  tracing?: Tracing | undefined;
}

export interface Sidecar {
  /** host:port actually bound (port 0 resolved). */
  readonly address: string;
  readonly port: number;
  /** host:port of the admin HTTP listener (port 0 resolved). */
  readonly adminAddress: string;
  readonly adminPort: number;
  readonly engine: LockEngine;
  readonly health: QuorumHealth;
  readonly metrics: SidecarMetrics;
  /** Stops taking calls and ends KeepAlive streams; held leases run out at their ends. Idempotent. */
  stop(): Promise<void>;
}

/** Longest start-up wait for instance connections; unreachable ones are retried in the background. */
const CONNECT_WAIT_MS = 2000;
/** How often the overload signals are read between calls (ms): a spike no call saw still starts the settle time. */
const LOAD_WATCH_MS = 250;

export async function startSidecar(options: SidecarOptions, deps: SidecarDeps = {}): Promise<Sidecar> {
  const logger = deps.logger ?? silentLogger();
  const metrics = new SidecarMetrics();
  const clock = deps.clock ?? systemClock;
  // First: unreadable or mismatched certificate files stop start-up before anything connects.
  const api = apiCredentials(options, logger);
  const instanceTls =
    deps.instances || options.instances.length === 0 ? undefined : InstanceTlsFiles.load(options, logger);
  // Stops polling the certificate files: the API's, and the instances' once started.
  const closeFiles = (): void => {
    api.close();
    instanceTls?.close();
  };
  const raw = deps.instances ?? createInstances(options, deps, logger, instanceTls);
  const guarded = guardInstances(raw, options, metrics, clock, logger);
  // Outermost, so a span sees what the guards made of each answer.
  const { tracing } = deps;
  const instances = tracing ? guarded.map((instance) => tracing.instance(instance)) : guarded;
  const engine = new LockEngine(instances, options, { ...deps, observer: metrics });
  // Generous against the per-call timeout: a slow answer is still an answer for readiness.
  const health = new QuorumHealth(engine, logger, { probeTimeoutMs: options.instanceTimeoutMs * 4 });
  const shutdown = new AbortController();
  const streams = new Set<Promise<void>>();
  const sessions = new LeaseSessions(engine, options.retryDelayMs, metrics);
  const processLoad = new ProcessLoad();
  const load: LoadSignals = {
    renewalLagMs: deps.loadSignals?.renewalLagMs ?? (() => sessions.renewalLagMs()),
    eventLoopDelayMs: deps.loadSignals?.eventLoopDelayMs ?? (() => processLoad.eventLoopDelayMs()),
    heapShare: deps.loadSignals?.heapShare ?? (() => processLoad.heapShare()),
  };
  const overload = new OverloadGuard(
    load,
    { lagMs: options.overloadLagMs, heapPercent: options.overloadHeapPercent, settleMs: options.overloadSettleMs },
    () => clock.monotonicMs(),
    metrics,
  );
  const watchMs = deps.loadWatchMs ?? LOAD_WATCH_MS;
  const stopWatching = watchMs > 0 ? overload.watch(watchMs) : () => {};
  const closeLoad = (): void => {
    stopWatching();
    processLoad.close();
  };

  // Pings each client connection (see ClientPings for why not grpc-js' own keepalive).
  const pings = new ClientPings(options.clientPingIntervalMs, options.clientPingTimeoutMs);
  const server = new Server({ ...(tracing ? { interceptors: [tracing.interceptor()] } : {}) });
  server.addService(
    serverServiceDefinition(LockService),
    rejectUnreadableRequests(
      lockServiceImplementation({
        engine,
        limits: options,
        instanceTimeoutMs: options.instanceTimeoutMs,
        retryDelayMs: options.retryDelayMs,
        shutdown: shutdown.signal,
        logger,
        streams,
        maxStreams: options.maxStreams,
        observer: metrics,
        sessions,
        overload,
      }),
    ),
  );
  health.addToServer(server);
  addReflection(server, [file_lock_v1_lock]);

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(options.listen, api.credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
  } catch (error) {
    pings.close();
    closeFiles();
    closeLoad();
    await engine.close();
    throw new ListenError(options.listen, "LOCK_LISTEN / --listen", error);
  }
  if (!pings.attach(server)) {
    logger.warn(
      "client connections are not pinged: this grpc-js does not expose its HTTP/2 servers; a vanished client keeps its streams until TCP gives up",
    );
  }
  const host = options.listen.slice(0, options.listen.lastIndexOf(":"));
  const address = `${host}:${port}`;
  metrics.observe({
    leasesHeld: () => engine.leases.valid(clock.monotonicMs()).length,
    waiters: () => engine.waiting,
    keepAliveStreams: () => streams.size,
    instances: () => health.instances(),
    quorumAvailable: () => health.serving,
    load,
  });
  let admin: AdminServer;
  try {
    admin = await startAdminServer(
      options.adminListen,
      {
        metrics: () => metrics.exposition(),
        status: () => sidecarStatus(health, engine.quorum),
        ready: () => health.serving,
      },
      logger,
    );
  } catch (error) {
    server.forceShutdown();
    pings.close();
    closeFiles();
    closeLoad();
    await engine.close();
    throw error;
  }
  // Give connections a moment so the first calls do not meet "not connected yet".
  await Promise.all(instances.map((i) => i.waitUntilConnected(CONNECT_WAIT_MS)));
  await health.start(options.healthIntervalMs);
  // Only now, once nothing can fail start-up any more: stop() is what ends it.
  instanceTls?.start(options.tlsRefreshIntervalMs);
  logger.info(
    {
      version: packageVersion(),
      address,
      tls: api.mode,
      admin: admin.address,
      instances: instances.map((i) => i.name),
      quorum: engine.quorum,
      // What LOCK_OVERLOAD_HEAP is a share of: in a small container, a few thousand streams.
      heapLimitMiB: processLoad.heapLimitMiB(),
    },
    "sidecar listening",
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ leases: engine.leases.size, streams: streams.size }, "shutting down");
      health.stop();
      shutdown.abort(new LockError("shutting-down", "the sidecar is shutting down"));
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, options.shutdownGraceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      pings.close();
      closeFiles();
      closeLoad();
      await Promise.allSettled(streams);
      // Leases are not released: their owners were told they hold them until
      // their ends, and a shutdown is not the owner asking. They run out then.
      const left = engine.leases.sizeAt(engine.clock.monotonicMs());
      await engine.close();
      // Last: /readyz answers 503 and /metrics stays scrapeable until here.
      await admin.close();
      logger.info({ leftToRunOut: left }, "shut down");
    })();
    return stopping;
  };

  return { address, port, adminAddress: admin.address, adminPort: admin.port, engine, health, metrics, stop };
}
