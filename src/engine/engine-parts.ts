import type { SidecarOptions } from "../config/options.ts";
import type { LockInstance } from "../instances/lock-instance.ts";
import { systemClock, type Clock } from "../util/clock.ts";
import { quorumOf } from "../redlock/quorum.ts";
import { systemRandomness, type Randomness } from "../redlock/randomness.ts";
import type { EngineObserver } from "./engine-observer.ts";
import { HandoverOffers } from "./handover-offer.ts";
import { InstanceCalls } from "./instance-calls.ts";
import { LeaseRegistry } from "./lease-registry.ts";
import { LocalQueues, waitingTicket } from "./local-queue.ts";
import type { Attempt } from "./redlock-round.ts";
import { ReleaseWatches } from "./release-watch.ts";

/** The settings the engine reads; their meaning, units and defaults live in the settings table. */
export type EngineOptions = Pick<
  SidecarOptions,
  | "keyPrefix"
  | "instanceTimeoutMs"
  | "retryDelayMs"
  | "retryJitterMs"
  | "fenceRetentionMs"
  | "waitTicketTtlMs"
  | "maxBatch"
  | "maxLeases"
  | "maxWaiters"
>;

export interface EngineDeps {
  clock?: Clock;
  randomness?: Randomness;
  observer?: EngineObserver | undefined;
}

/**
 * What the engine's steps share: the instances and the calls to them, the
 * injected clock and randomness, and this sidecar's state per lock name
 * (leases, queues, release watches, handover offers). Built once per engine.
 */
export interface EngineParts {
  readonly instances: readonly LockInstance[];
  readonly quorum: number;
  readonly options: EngineOptions;
  readonly clock: Clock;
  readonly random: Randomness;
  readonly observer: EngineObserver | undefined;
  readonly calls: InstanceCalls;
  readonly leases: LeaseRegistry;
  readonly queues: LocalQueues;
  readonly watches: ReleaseWatches;
  /** Waiting heads' offers to take the lock from a release here. */
  readonly offers: HandoverOffers<Attempt>;
}

export function engineParts(instances: readonly LockInstance[], options: EngineOptions, deps: EngineDeps): EngineParts {
  const clock = deps.clock ?? systemClock;
  const random = deps.randomness ?? systemRandomness;
  return {
    instances,
    quorum: quorumOf(instances.length),
    options,
    clock,
    random,
    observer: deps.observer,
    calls: new InstanceCalls(instances, options.instanceTimeoutMs),
    leases: new LeaseRegistry(deps.observer && ((heldMs, end) => deps.observer?.leaseEnded(heldMs, end))),
    queues: new LocalQueues(
      () => waitingTicket(clock.wallMs(), random.leaseSecret()),
      () => clock.monotonicMs(),
      options.maxBatch,
    ),
    watches: new ReleaseWatches(instances, options.instanceTimeoutMs),
    offers: new HandoverOffers<Attempt>(),
  };
}
