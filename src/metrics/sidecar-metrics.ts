import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { InstanceCallObserver } from "../instances/observed-instance.ts";
import { OUTCOMES_OF_RPC, type CallOutcome, type Rpc } from "../server/call-outcome.ts";
import { LEASE_LOSS_REASONS, type LeaseLossReason } from "../server/lease-loss-reason.ts";
import type { LockServiceObserver } from "../server/lock-service-observer.ts";

/** State read at scrape time rather than tracked on every change. */
export interface MetricSources {
  leasesHeld(): number;
  keepAliveStreams(): number;
  /** Each instance's last probed reachability; undefined before the first probe. */
  instances(): readonly { name: string; up: boolean | undefined }[];
  quorumAvailable(): boolean;
}

// Instance calls take well under a millisecond on a LAN and are cut off at
// the instance timeout (50 ms by default); RPCs add waits of up to minutes.
const INSTANCE_BUCKETS_S = [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const RPC_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const WAIT_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

type CounterChild = ReturnType<Counter["labels"]>;
type HistogramChild = ReturnType<Histogram["labels"]>;

/**
 * The sidecar's Prometheus metrics, in a registry of their own (never the
 * global one, so several sidecars in one process do not collide). Label
 * children are resolved once up front: observing a call is a map lookup and
 * a few additions, and every series exists at 0 before its first event.
 */
export class SidecarMetrics implements LockServiceObserver {
  readonly registry = new Registry();
  readonly #requests = new Map<Rpc, Map<CallOutcome, CounterChild>>();
  readonly #durations = new Map<Rpc, HistogramChild>();
  readonly #waitAcquired: HistogramChild;
  readonly #waitContended: HistogramChild;
  readonly #renewals: Counter;
  readonly #lost = new Map<LeaseLossReason, CounterChild>();
  readonly #instanceLatency: Histogram<"instance">;
  readonly #instanceErrors: Counter<"instance">;
  #sources: MetricSources | undefined;

  constructor() {
    const registers = [this.registry];
    // Standard names (process_*, nodejs_*), so stock dashboards and alerts apply.
    collectDefaultMetrics({ register: this.registry });

    const requests = new Counter({ name: "lock_requests_total", help: "Finished Acquire, Extend and Release calls by outcome", labelNames: ["rpc", "outcome"], registers });
    const durations = new Histogram({ name: "lock_request_duration_seconds", help: "Duration of Acquire, Extend and Release calls, waits included", labelNames: ["rpc"], buckets: RPC_BUCKETS_S, registers });
    for (const [rpc, outcomes] of Object.entries(OUTCOMES_OF_RPC) as [Rpc, readonly CallOutcome[]][]) {
      this.#requests.set(rpc, new Map(outcomes.map((outcome) => [outcome, zeroed(requests.labels(rpc, outcome))])));
      this.#durations.set(rpc, durations.labels(rpc));
      durations.zero({ rpc });
    }
    const wait = new Histogram({
      name: "lock_acquire_wait_seconds",
      help: "Time Acquire calls that asked to wait spent until granted (acquired) or until the wait ran out (contended)",
      labelNames: ["outcome"],
      buckets: WAIT_BUCKETS_S,
      registers,
    });
    this.#waitAcquired = wait.labels("acquired");
    this.#waitContended = wait.labels("contended");
    wait.zero({ outcome: "acquired" });
    wait.zero({ outcome: "contended" });

    this.#renewals = new Counter({ name: "lock_keepalive_renewals_total", help: "Lease renewals confirmed by a majority on KeepAlive streams", registers });
    const lost = new Counter({ name: "lock_leases_lost_total", help: "KeepAlive streams ended because their lease was lost, by reason", labelNames: ["reason"], registers });
    for (const reason of LEASE_LOSS_REASONS) this.#lost.set(reason, zeroed(lost.labels(reason)));

    this.#instanceLatency = new Histogram({ name: "lock_instance_latency_seconds", help: "Duration of calls to each instance until they settled", labelNames: ["instance"], buckets: INSTANCE_BUCKETS_S, registers });
    this.#instanceErrors = new Counter({ name: "lock_instance_errors_total", help: "Calls to each instance that failed (error or no connection)", labelNames: ["instance"], registers });

    const sources = (): MetricSources | undefined => this.#sources;
    new Gauge({
      name: "lock_leases_held",
      help: "Leases granted or renewed by this sidecar and still valid",
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.leasesHeld());
      },
    });
    new Gauge({
      name: "lock_keepalive_streams_open",
      help: "KeepAlive streams currently open",
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.keepAliveStreams());
      },
    });
    new Gauge({
      name: "lock_instance_up",
      help: "1 when the instance answered the last health probe, else 0",
      labelNames: ["instance"],
      registers,
      collect() {
        for (const { name, up } of sources()?.instances() ?? []) this.set({ instance: name }, up === true ? 1 : 0);
      },
    });
    new Gauge({
      name: "lock_quorum_available",
      help: "1 while a majority of instances answers health probes (ready), else 0 (also during shutdown)",
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.quorumAvailable() ? 1 : 0);
      },
    });
  }

  /** Connects the scrape-time gauges to the running sidecar. */
  observe(sources: MetricSources): void {
    this.#sources = sources;
  }

  /** The observer for one instance's calls; `name` carries no credentials. */
  instanceObserver(name: string): InstanceCallObserver {
    const latency = this.#instanceLatency.labels(name);
    this.#instanceLatency.zero({ instance: name });
    const errors = zeroed(this.#instanceErrors.labels(name));
    return (durationMs, ok) => {
      latency.observe(durationMs / 1000);
      if (!ok) errors.inc();
    };
  }

  callEnded(rpc: Rpc, outcome: CallOutcome, durationMs: number, waited: boolean): void {
    this.#requests.get(rpc)?.get(outcome)?.inc();
    this.#durations.get(rpc)?.observe(durationMs / 1000);
    if (!waited) return;
    if (outcome === "acquired") this.#waitAcquired.observe(durationMs / 1000);
    else if (outcome === "contended") this.#waitContended.observe(durationMs / 1000);
  }

  renewed(): void {
    this.#renewals.inc();
  }

  leaseLost(reason: LeaseLossReason): void {
    this.#lost.get(reason)?.inc();
  }

  /** The text exposition format, and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/** Makes a counter series exist at 0, so rates work from the first scrape. */
function zeroed(child: CounterChild): CounterChild {
  child.inc(0);
  return child;
}
