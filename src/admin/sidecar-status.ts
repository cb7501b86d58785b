import type { InstanceState } from "../instances/instance-state.ts";
import type { SidecarStatus } from "../protocol/status-document.ts";

/** What /status reads: the quorum health as of the last probe (QuorumHealth in the server). */
export interface HealthReport {
  readonly serving: boolean;
  readonly reachable: number;
  instances(): readonly InstanceState[];
}

/** The /status document, built from the last probe. */
export function sidecarStatus(health: HealthReport, quorum: number): SidecarStatus {
  return {
    serving: health.serving,
    quorum,
    reachable: health.reachable,
    instances: health.instances().map(({ name, up, guard, mayEvict, quarantine }) => ({
      name,
      up: up ?? null,
      guard,
      mayEvict: mayEvict ?? null,
      quarantine: quarantine ?? null,
    })),
  };
}
