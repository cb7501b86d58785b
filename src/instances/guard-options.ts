import type { CircuitBudget } from "./circuit-budget.ts";
import type { InstanceAges } from "./instance-ages.ts";
import type { RestartWitnesses } from "./restart-witnesses.ts";

export interface GuardOptions {
  /**
   * How long an instance that came back with a new identity (it restarted
   * and forgot its keys) is kept out of every quorum; 0 turns quarantine
   * off. It must be at least the longest TTL a lease can be granted for.
   */
  quarantineMs: number;
  /**
   * Instances whose starts lie within this of the earliest one's were
   * deployed together; one that started later, less than `quarantineMs`
   * ago, is quarantined until `quarantineMs` after its start, even on first
   * contact: it may have restarted and forgotten leases.
   */
  freshStartWindowMs: number;
  /** Shared by the instances of one engine: when each started. */
  ages: InstanceAges;
  /**
   * Consecutive failures that open the circuit, when they also span at
   * least one probe interval: a burst of timeouts under load is not an
   * instance that is gone.
   */
  circuitFailures: number;
  /** While the circuit is open: how often the instance is probed. */
  circuitProbeIntervalMs: number;
  /** Shared by the instances of one engine: how many circuits may be open at once. */
  circuitBudget: CircuitBudget;
  /**
   * Shared by the instances of one engine: asked, when this one restarted,
   * how long the leases it may have forgotten can still live, so that its
   * quarantine ends then instead of after `quarantineMs`. Without it, the
   * quarantine always lasts `quarantineMs`.
   */
  witnesses?: RestartWitnesses | undefined;
}
