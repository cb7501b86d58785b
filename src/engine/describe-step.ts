import { LockError } from "../errors/lock-error.ts";
import { lockKeys } from "../instances/keys.ts";
import { judgeLockView } from "../redlock/lock-view.ts";
import type { EngineParts } from "./engine-parts.ts";

/** A lock as a majority of instances sees it, for Describe. Never a secret or a lease id. */
export interface LockDescription {
  held: boolean;
  /** The holder's owner; '' when free, when none was given or none was recorded. */
  owner: string;
  /** The holder's fencing token; undefined when free or when the instances keep no counter. */
  fencingToken: bigint | undefined;
  /** When the holder's grant started, on the granting sidecar's wall clock (ms); undefined when free or not recorded. */
  heldSinceWallMs: number | undefined;
  /** How long a majority still holds it, less the time the reading took; undefined when free or without expiry. */
  remainingMs: number | undefined;
  /** Live waiting tickets at least a majority reports: one per waiting sidecar. */
  waitingTickets: number;
  /** Callers waiting for it through this sidecar. */
  waitingHere: number;
  instances: number;
  answered: number;
  /** Instances that say what the description says (held, or free). */
  agreeing: number;
}

/**
 * Describe: reads one lock on every instance in parallel (each call bounded
 * by the instance timeout), and reports what a majority says. Writes
 * nothing. Withheld answers (restart quarantine, an open circuit) do not
 * count: a restarted instance may have forgotten the lock.
 */
export class DescribeStep {
  readonly #parts: EngineParts;

  constructor(parts: EngineParts) {
    this.#parts = parts;
  }

  async describe(name: string): Promise<LockDescription> {
    const { calls, clock, instances, options, queues, quorum } = this.#parts;
    const startMs = clock.monotonicMs();
    const answers = await calls.fanOut(instances, (i) => i.readLock(lockKeys(options.keyPrefix, name)));
    const view = judgeLockView(
      answers.map((a) => (a.ok ? a.value : undefined)),
      quorum,
    );
    const elapsedMs = clock.monotonicMs() - startMs;
    const common = { instances: instances.length, waitingHere: queues.size(name) };
    switch (view.kind) {
      case "unavailable":
        throw new LockError(
          "unavailable",
          `lock ${JSON.stringify(name)}: only ${view.answered} of ${instances.length} instances answered (need ${quorum}); it could not be described`,
          { metadata: { lock: name } },
        );
      case "split":
        throw new LockError(
          "unavailable",
          `lock ${JSON.stringify(name)}: ${view.answered} of ${instances.length} instances answered but no ${quorum} agree (${view.holding} hold it, ${view.free} have it free); it could not be described`,
          { metadata: { lock: name } },
        );
      case "free":
        return {
          ...common,
          held: false,
          owner: "",
          fencingToken: undefined,
          heldSinceWallMs: undefined,
          remainingMs: undefined,
          waitingTickets: view.tickets,
          answered: view.answered,
          agreeing: view.agreeing,
        };
      case "held":
        return {
          ...common,
          held: true,
          owner: view.holder?.owner ?? "",
          fencingToken: view.fencingToken,
          heldSinceWallMs: view.holder?.sinceMs,
          remainingMs: Number.isFinite(view.remainingMs) ? Math.max(0, view.remainingMs - elapsedMs) : undefined,
          waitingTickets: view.tickets,
          answered: view.answered,
          agreeing: view.agreeing,
        };
    }
  }
}
