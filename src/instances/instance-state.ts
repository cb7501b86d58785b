import type { EvictionGuardState } from "./eviction-guard.ts";
import type { QuarantineBasis } from "./quarantine.ts";

/** One instance as health probes and its guards see it: read by /status, the metrics and readiness. */
export interface InstanceState {
  /** As the instance names itself: never includes credentials. */
  readonly name: string;
  /** Whether it answered the last probe; undefined before the first one. */
  readonly up: boolean | undefined;
  /** What the guards do with its votes: ok, quarantined, circuit-open, unverified or evicting. */
  readonly guard: EvictionGuardState;
  /** Whether it may evict keys; undefined before its policy is read, or when it cannot be read. */
  readonly mayEvict: boolean | undefined;
  /** While quarantined: how its end was set (witnessed, fallback, pending, max-ttl) and the time left. */
  readonly quarantine: { basis: QuarantineBasis; remainingMs: number } | undefined;
}
