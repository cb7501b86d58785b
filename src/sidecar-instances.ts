import type { SidecarOptions } from "./config/options.ts";
import type { EngineDeps } from "./engine/lock-engine.ts";
import { EVICTION_RECHECK_MS, EvictionGuard } from "./instances/eviction-guard.ts";
import { CircuitBudget, GuardedInstance } from "./instances/guarded-instance.ts";
import { InstanceAges } from "./instances/instance-ages.ts";
import type { InstanceTlsFiles } from "./tls/instance-tls.ts";
import type { LockInstance } from "./instances/lock-instance.ts";
import { MemoryInstance } from "./instances/memory-instance.ts";
import { ObservedInstance } from "./instances/observed-instance.ts";
import { RedisInstance } from "./instances/redis-instance.ts";
import { lockKeyPattern, RestartWitnesses, WITNESS_SCAN_TIMEOUT_MS } from "./instances/restart-witnesses.ts";
import type { Logger } from "./log/logger.ts";
import type { SidecarMetrics } from "./metrics/sidecar-metrics.ts";
import { quorumOf } from "./redlock/quorum.ts";
import type { Clock } from "./util/clock.ts";
import { systemClock } from "./util/clock.ts";

/** The embedded default: three members in this process. */
export const EMBEDDED_INSTANCE_COUNT = 3;

/** The instances named in the options, or the embedded in-process store when none are. */
export function createInstances(
  options: SidecarOptions,
  deps: EngineDeps,
  logger: Logger,
  tlsFiles: InstanceTlsFiles | undefined,
): LockInstance[] {
  if (options.instances.length === 0) {
    logger.warn(
      "no instances configured (LOCK_INSTANCES): using an embedded in-process store of three members. " +
        "Locks are only exclusive among clients of THIS sidecar process; configure independent instances for real use.",
    );
    return Array.from(
      { length: EMBEDDED_INSTANCE_COUNT },
      (_, i) => new MemoryInstance(`memory://embedded-${i + 1}`, deps.clock ?? systemClock),
    );
  }
  const tls = tlsFiles?.options;
  return options.instances.map(
    (url) =>
      new RedisInstance(url, {
        commandTimeoutMs: options.instanceTimeoutMs,
        connectTimeoutMs: Math.max(1000, options.instanceTimeoutMs),
        tls,
      }),
  );
}

/**
 * Wraps each instance in its metrics observer, restart guard and circuit breaker,
 * and in the eviction guard when the instance can evict.
 */
export function guardInstances(
  raw: LockInstance[],
  options: SidecarOptions,
  metrics: SidecarMetrics,
  clock: Clock,
  logger: Logger,
): LockInstance[] {
  const witnesses =
    options.restartQuarantine === "on"
      ? new RestartWitnesses(
          {
            count: raw.length,
            quorum: quorumOf(raw.length),
            lockPattern: lockKeyPattern(options.keyPrefix),
            instanceTimeoutMs: options.instanceTimeoutMs,
            scanTimeoutMs: WITNESS_SCAN_TIMEOUT_MS,
          },
          clock,
        )
      : undefined;
  const guard = {
    // Every lease an instance may have forgotten in a restart was granted for at most the max TTL.
    quarantineMs: options.restartQuarantine === "on" ? options.maxTtlMs : 0,
    circuitFailures: options.circuitFailures,
    circuitProbeIntervalMs: options.circuitProbeIntervalMs,
    circuitBudget: new CircuitBudget(raw.length - quorumOf(raw.length)),
    freshStartWindowMs: options.freshStartWindowMs,
    ages: new InstanceAges(quorumOf(raw.length)),
    witnesses,
  };
  return raw.map((instance): LockInstance => {
    const guarded = new GuardedInstance(
      new ObservedInstance(instance, clock, metrics.instanceObserver(instance.name)),
      guard,
      clock,
      logger,
    );
    // Outermost, so the restart guard and circuit breaker still see every answer.
    // Without evictionPolicy an instance never evicts (the embedded store).
    let outer: LockInstance & { state(): string } = guarded;
    if (instance.evictionPolicy) {
      const eviction = {
        allowEviction: options.allowEviction,
        recheckMs: EVICTION_RECHECK_MS,
        onUnreadable: metrics.evictionUnreadableCounter(instance.name),
      };
      outer = new EvictionGuard(guarded, () => instance.evictionPolicy!(), eviction, clock, logger);
    }
    // A witness of another's restart only while its own votes count: memory whole, nothing evicted.
    const counted = outer;
    witnesses?.register({
      name: instance.name,
      canWitness: () => counted.state() === "ok",
      connectionEpoch: () => instance.connectionEpoch(),
      longestTtlMs: (pattern, signal) => instance.longestTtlMs(pattern, signal),
    });
    return outer;
  });
}
