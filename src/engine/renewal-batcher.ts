import type { Clock } from "../util/clock.ts";
import type { LeaseVote } from "../redlock/votes.ts";
import type { ExtendItem, LockInstance } from "../instances/lock-instance.ts";
import { fanOut } from "./fan-out.ts";

export interface BatchedVotes {
  votes: LeaseVote[];
  /** When the batch was sent and how long its slowest answer took (monotonic ms). */
  startMs: number;
  elapsedMs: number;
}

/**
 * Coalesces extends requested in the same event-loop turn into one script
 * call per instance carrying every key (each still declared in KEYS), so
 * thousands of kept-alive leases cost the instances a few calls per tick
 * rather than one per lease. Each lease is still judged by its own votes.
 */
export class RenewalBatcher {
  readonly #instances: readonly LockInstance[];
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #maxBatch: number;
  #pending: { item: ExtendItem; resolve: (votes: BatchedVotes) => void }[] = [];

  /** `maxBatch`: most keys in one script call; larger batches are split. */
  constructor(instances: readonly LockInstance[], timeoutMs: number, clock: Clock, maxBatch = 1000) {
    this.#instances = instances;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#maxBatch = maxBatch;
  }

  extend(item: ExtendItem): Promise<BatchedVotes> {
    return new Promise((resolve) => {
      if (this.#pending.push({ item, resolve }) === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (let at = 0; at < pending.length; at += this.#maxBatch) void this.#send(pending.slice(at, at + this.#maxBatch));
  }

  async #send(batch: { item: ExtendItem; resolve: (votes: BatchedVotes) => void }[]): Promise<void> {
    const items = batch.map((b) => b.item);
    const startMs = this.#clock.monotonicMs();
    const answers = await fanOut(this.#instances, this.#timeoutMs, (i) => i.extend(items));
    const elapsedMs = this.#clock.monotonicMs() - startMs;
    batch.forEach(({ resolve }, index) => {
      const votes = answers.map((a): LeaseVote => {
        if (!a.ok) return { kind: "failed", error: a.error };
        return a.value[index] ? { kind: "matched" } : { kind: "missing" };
      });
      resolve({ votes, startMs, elapsedMs });
    });
  }
}
