import { collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { HANDOVER_OUTCOMES, type EngineObserver, type HandoverOutcome } from "../engine/engine-observer.ts";
import { LEASE_ENDS, type LeaseEnd } from "../engine/lease-registry.ts";
import type { RenewalObserver } from "../engine/lease-sessions.ts";
import type { InstanceCallObserver } from "../instances/observed-instance.ts";
import {
  OUTCOMES_OF_RPC,
  OUTCOMES_OF_STREAM,
  type CallOutcome,
  type Rpc,
  type StreamOutcome,
  type StreamRpc,
} from "../observe/call-outcome.ts";
import { LEASE_LOSS_REASONS, type LeaseLossReason } from "../engine/lease-loss.ts";
import type { LockServiceObserver } from "../observe/lock-service-observer.ts";
import {
  OVERLOAD_CAUSES,
  type LoadSignals,
  type OverloadCause,
  type OverloadObserver,
} from "../engine/overload-guard.ts";
import { registerBuildInfo } from "./build-info.ts";
import { PreboundCounter, type CounterSeries } from "./prebound-counter.ts";
import { PreboundHistogram, type HistogramSeries } from "./prebound-histogram.ts";

/** State read at scrape time rather than tracked on every change. */
export interface MetricSources {
  /** Also moves leases past their end out of the live set, which tells their held time. */
  leasesHeld(): number;
  /** Acquire calls waiting now. */
  waiters(): number;
  keepAliveStreams(): number;
  /** Each instance's last probed reachability (undefined before the first probe), guard state and eviction policy. */
  instances(): readonly {
    name: string;
    up: boolean | undefined;
    guard: string;
    mayEvict?: boolean | undefined;
    quarantine?: { basis: string } | undefined;
  }[];
  quorumAvailable(): boolean;
  /** The signals LOCK_OVERLOAD_LAG is compared with. */
  load?: LoadSignals;
}

// Instance calls take well under a millisecond on a LAN and are cut off at
// the instance timeout (50 ms by default); RPCs add waits of up to minutes.
const INSTANCE_BUCKETS_S = [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const RPC_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const WAIT_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
// Renewals are answered within milliseconds of their due time; a lease is lost past 2/3 of its TTL.
const LATENESS_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Leases are held from a few milliseconds (a short critical section) to hours (a leader's lease).
const HELD_BUCKETS_S = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/**
 * The sidecar's Prometheus metrics, in a registry of their own (never the
 * global one, so several sidecars in one process do not collide). Every
 * series on a per-call path is bound up front: observing a call is a map
 * lookup and a few additions, with no allocation, and every series exists
 * at 0 before its first event. Gauges are read from the sidecar at scrape time.
 * Longer than most files on purpose: every metric is defined here, so that
 * names, help texts and labels can be read (and kept apart) in one place.
 */
export class SidecarMetrics implements LockServiceObserver, EngineObserver, RenewalObserver, OverloadObserver {
  readonly registry = new Registry();
  readonly #requests = new Map<Rpc, Map<CallOutcome, CounterSeries>>();
  readonly #streamEnds = new Map<StreamRpc, Map<StreamOutcome, CounterSeries>>();
  readonly #held = new Map<LeaseEnd, HistogramSeries>();
  readonly #durations = new Map<Rpc, HistogramSeries>();
  readonly #waitAcquired: HistogramSeries;
  readonly #waitContended: HistogramSeries;
  readonly #renewals: CounterSeries;
  readonly #lost = new Map<LeaseLossReason, CounterSeries>();
  readonly #handovers = new Map<HandoverOutcome, CounterSeries>();
  readonly #instanceLatency: PreboundHistogram;
  readonly #instanceErrors: PreboundCounter;
  readonly #evictionUnreadable: PreboundCounter;
  readonly #lateness: HistogramSeries;
  readonly #refused = new Map<OverloadCause, CounterSeries>();
  #sources: MetricSources | undefined;

  constructor() {
    const registry = this.registry;
    // Standard names (process_*, nodejs_*), so stock dashboards and alerts apply.
    collectDefaultMetrics({ register: registry });

    const requests = new PreboundCounter(registry, {
      name: "lock_requests_total",
      help: "Finished calls by RPC and outcome; KeepAlive, Hold and KeepAliveMany streams count once, when they end",
    });
    const durations = new PreboundHistogram(registry, {
      name: "lock_request_duration_seconds",
      help: "Duration of Acquire, Extend and Release calls, waits included",
      buckets: RPC_BUCKETS_S,
    });
    for (const [rpc, outcomes] of Object.entries(OUTCOMES_OF_RPC) as [Rpc, readonly CallOutcome[]][]) {
      this.#requests.set(rpc, new Map(outcomes.map((outcome) => [outcome, requests.series({ rpc, outcome })])));
      this.#durations.set(rpc, durations.series({ rpc }));
    }
    for (const [rpc, outcomes] of Object.entries(OUTCOMES_OF_STREAM) as [StreamRpc, readonly StreamOutcome[]][])
      this.#streamEnds.set(rpc, new Map(outcomes.map((outcome) => [outcome, requests.series({ rpc, outcome })])));
    const held = new PreboundHistogram(registry, {
      name: "lock_lease_held_seconds",
      help:
        "How long leases granted here were held, from the grant to their release, their loss, or the last " +
        "end this sidecar knew when they expired, by how they ended",
      buckets: HELD_BUCKETS_S,
    });
    for (const end of LEASE_ENDS) this.#held.set(end, held.series({ end }));
    registerBuildInfo(registry);
    const wait = new PreboundHistogram(registry, {
      name: "lock_acquire_wait_seconds",
      help: "Time Acquire calls that asked to wait spent until granted (acquired) or until the wait ran out (contended)",
      buckets: WAIT_BUCKETS_S,
    });
    this.#waitAcquired = wait.series({ outcome: "acquired" });
    this.#waitContended = wait.series({ outcome: "contended" });

    this.#renewals = new PreboundCounter(registry, {
      name: "lock_keepalive_renewals_total",
      help: "Lease renewals confirmed by a majority on KeepAlive streams",
    }).series();
    const lost = new PreboundCounter(registry, {
      name: "lock_leases_lost_total",
      help: "KeepAlive streams ended because their lease was lost, by reason",
    });
    for (const reason of LEASE_LOSS_REASONS) this.#lost.set(reason, lost.series({ reason }));

    this.#lateness = new PreboundHistogram(registry, {
      name: "lock_renewal_lateness_seconds",
      help: "How long after its due time each renewal of a kept-alive lease was answered",
      buckets: LATENESS_BUCKETS_S,
    }).series();
    const refused = new PreboundCounter(registry, {
      name: "lock_overload_refusals_total",
      help:
        "New work (Acquire, Hold, a KeepAlive for a lease not kept here yet) refused RESOURCE_EXHAUSTED " +
        "because a load signal passed LOCK_OVERLOAD_LAG, by cause",
    });
    for (const cause of OVERLOAD_CAUSES) this.#refused.set(cause, refused.series({ cause }));

    const handovers = new PreboundCounter(registry, {
      name: "lock_handovers_total",
      help: "Releases that tried to hand the lock straight to a waiter of this sidecar, by outcome",
    });
    for (const outcome of HANDOVER_OUTCOMES) this.#handovers.set(outcome, handovers.series({ outcome }));

    this.#instanceLatency = new PreboundHistogram(registry, {
      name: "lock_instance_latency_seconds",
      help: "Duration of calls to each instance until they settled",
      buckets: INSTANCE_BUCKETS_S,
    });
    this.#instanceErrors = new PreboundCounter(registry, {
      name: "lock_instance_errors_total",
      help: "Calls to each instance that failed (error, timeout or no connection)",
    });
    this.#evictionUnreadable = new PreboundCounter(registry, {
      name: "lock_instance_eviction_unreadable_total",
      help: "Readings of the instance's eviction policy it refused (CONFIG GET and INFO not permitted): its votes count unchecked",
    });

    const sources = (): MetricSources | undefined => this.#sources;
    const registers = [registry];
    /** A gauge read from the running sidecar at scrape time (nothing before it is connected). */
    const scraped = (name: string, help: string, read: (s: MetricSources) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = sources();
          if (s) this.set(read(s));
        },
      });
    };
    /** A per-instance 0/1 gauge read at scrape time. */
    const perInstance = (
      name: string,
      help: string,
      on: (instance: ReturnType<MetricSources["instances"]>[number]) => boolean,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ["instance"],
        registers,
        collect() {
          for (const instance of sources()?.instances() ?? [])
            this.set({ instance: instance.name }, on(instance) ? 1 : 0);
        },
      });
    };
    scraped("lock_leases_held", "Leases granted or renewed by this sidecar and still valid", (s) => s.leasesHeld());
    scraped("lock_waiters", "Acquire calls waiting for a lock now (queued on this sidecar or trying)", (s) =>
      s.waiters(),
    );
    scraped("lock_keepalive_streams_open", "KeepAlive streams currently open", (s) => s.keepAliveStreams());
    perInstance("lock_instance_up", "1 when the instance answered the last health probe, else 0", (i) => i.up === true);
    perInstance(
      "lock_instance_quarantined",
      "1 while the instance's votes are withheld after a restart (new run_id or uptime), or as a late starter, else 0",
      (i) => i.guard === "quarantined",
    );
    perInstance(
      "lock_instance_quarantine_fallback",
      "1 while the instance is quarantined for the whole LOCK_MAX_TTL because the leases it may have " +
        "forgotten cannot be bounded (too few other instances kept their memory), else 0",
      (i) => i.quarantine?.basis === "fallback",
    );
    perInstance(
      "lock_instance_circuit_open",
      "1 while calls to the instance fail fast after repeated failures (probed in the background), else 0",
      (i) => i.guard === "circuit-open",
    );
    perInstance(
      "lock_instance_may_evict",
      "1 while the instance reports an eviction policy that may drop lock keys (maxmemory-policy other " +
        "than noeviction, Dragonfly cache mode): its votes are withheld unless LOCK_ALLOW_EVICTION=true; " +
        "else 0",
      (i) => i.mayEvict === true,
    );
    new Gauge({
      name: "lock_overload_signal_seconds",
      help: "The load signals compared with LOCK_OVERLOAD_LAG: renewal_lag (how late renewals are answered, lately or now) and event_loop_delay",
      labelNames: ["cause"],
      registers,
      collect() {
        const load = sources()?.load;
        if (!load) return;
        this.set({ cause: "renewal_lag" }, load.renewalLagMs() / 1000);
        this.set({ cause: "event_loop_delay" }, load.eventLoopDelayMs() / 1000);
      },
    });
    scraped(
      "lock_overload_heap_ratio",
      "The V8 heap in use as a share of its limit, the lowest reading over the last 10 s, compared with LOCK_OVERLOAD_HEAP",
      (s) => s.load?.heapShare() ?? 0,
    );
    scraped(
      "lock_quorum_available",
      "1 while a majority of instances answers health probes (ready), else 0 (also during shutdown)",
      (s) => (s.quorumAvailable() ? 1 : 0),
    );
  }

  /** Connects the scrape-time gauges to the running sidecar. */
  observe(sources: MetricSources): void {
    this.#sources = sources;
  }

  handover(outcome: HandoverOutcome): void {
    this.#handovers.get(outcome)?.inc();
  }

  /** The observer for one instance's calls; `name` carries no credentials. */
  instanceObserver(name: string): InstanceCallObserver {
    const latency = this.#instanceLatency.series({ instance: name });
    const errors = this.#instanceErrors.series({ instance: name });
    return (durationMs, ok) => {
      latency.observe(durationMs / 1000);
      if (!ok) errors.inc();
    };
  }

  /** Counts one instance's refused readings of its eviction policy; the series exists at 0 from now. */
  evictionUnreadableCounter(name: string): () => void {
    const series = this.#evictionUnreadable.series({ instance: name });
    return () => series.inc();
  }

  callEnded(rpc: Rpc, outcome: CallOutcome, durationMs: number, waited: boolean): void {
    this.#requests.get(rpc)?.get(outcome)?.inc();
    this.#durations.get(rpc)?.observe(durationMs / 1000);
    if (!waited) return;
    if (outcome === "acquired") this.#waitAcquired.observe(durationMs / 1000);
    else if (outcome === "contended") this.#waitContended.observe(durationMs / 1000);
  }

  streamEnded(rpc: StreamRpc, outcome: StreamOutcome): void {
    this.#streamEnds.get(rpc)?.get(outcome)?.inc();
  }

  leaseEnded(heldMs: number, end: LeaseEnd): void {
    this.#held.get(end)?.observe(heldMs / 1000);
  }

  renewed(): void {
    this.#renewals.inc();
  }

  leaseLost(reason: LeaseLossReason): void {
    this.#lost.get(reason)?.inc();
  }

  renewalAnswered(latenessMs: number): void {
    this.#lateness.observe(latenessMs / 1000);
  }

  overloadRefused(cause: OverloadCause): void {
    this.#refused.get(cause)?.inc();
  }

  /** The text exposition format, and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    // First, so leases that ran out since the last scrape are in lock_lease_held_seconds already.
    this.#sources?.leasesHeld();
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
