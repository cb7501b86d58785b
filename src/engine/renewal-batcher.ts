import type { Clock } from "../util/clock.ts";
import { TimeoutError } from "../util/abort.ts";
import { detached } from "../util/detached.ts";
import type { LeaseVote } from "../redlock/votes.ts";
import type { ExtendItem, LockInstance } from "../instances/lock-instance.ts";
import { fanOut, type Settled } from "./fan-out.ts";

export interface BatchedVotes {
  votes: LeaseVote[];
  /** When the batch was sent and how long its slowest answer took (monotonic ms). */
  startMs: number;
  elapsedMs: number;
}

interface Pending {
  item: ExtendItem;
  resolve: (votes: BatchedVotes) => void;
}

const MATCHED: LeaseVote = Object.freeze({ kind: "matched" });
const MISSING: LeaseVote = Object.freeze({ kind: "missing" });

/** Batches out at once. Each instance runs them one after another, so more would only wait there, on the clock. */
const MAX_IN_FLIGHT = 8;
/** The smallest batch a timed-out batch halves the size down to. */
const MIN_BATCH = 32;

/**
 * Coalesces extends into one script call per instance carrying every key
 * (each still declared in KEYS), so thousands of kept-alive leases cost the
 * instances a few calls per tick rather than one per lease. Each lease is
 * still judged by its own votes.
 *
 * Extends are sent in the order they came (the scheduler sends the earliest
 * end first), at most MAX_IN_FLIGHT batches at a time: a burst waits here,
 * where waiting costs nothing, instead of queueing at the instances while
 * its timeouts run. A batch that timed out on time (not because this
 * process stalled) halves the batch size, which grows back as batches are
 * answered.
 */
export class RenewalBatcher {
  readonly #instances: readonly LockInstance[];
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #maxBatch: number;
  #limit: number;
  #pending: Pending[] = [];
  #head = 0;
  #inFlight = 0;
  #flushQueued = false;

  /** `maxBatch`: most keys in one script call. */
  constructor(instances: readonly LockInstance[], timeoutMs: number, clock: Clock, maxBatch = 500) {
    this.#instances = instances;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#maxBatch = maxBatch;
    this.#limit = maxBatch;
  }

  extend(item: ExtendItem): Promise<BatchedVotes> {
    return new Promise((resolve) => {
      this.#pending.push({ item, resolve });
      // Extends asked for in the same event-loop turn go out together.
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        setImmediate(this.#flush);
      }
    });
  }

  /** Extends waiting to be sent. */
  get waiting(): number {
    return this.#pending.length - this.#head;
  }

  /** Entries the queue still holds, sent ones included: never many more than are waiting. */
  get held(): number {
    return this.#pending.length;
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    while (this.#inFlight < MAX_IN_FLIGHT && this.waiting > 0) {
      const end = Math.min(this.#pending.length, this.#head + this.#limit);
      const batch = this.#pending.slice(this.#head, end);
      this.#head = end;
      // Drop what was sent, so the queue never holds on to settled renewals:
      // under steady load it is rarely empty.
      if (this.#head === this.#pending.length || this.#head >= 1024) {
        this.#pending = this.#pending.slice(this.#head);
        this.#head = 0;
      }
      void this.#send(batch);
    }
  };

  async #send(batch: Pending[]): Promise<void> {
    this.#inFlight++;
    const items = batch.map((b) => b.item);
    const startMs = this.#clock.monotonicMs();
    let answers: Settled<boolean[]>[];
    try {
      answers = await fanOut(this.#instances, this.#timeoutMs, (i) => i.extend(items));
    } finally {
      this.#inFlight--;
    }
    const elapsedMs = this.#clock.monotonicMs() - startMs;
    this.#adapt(answers, batch.length, elapsedMs);
    // Leases with the same votes share one result: most of a batch has the
    // same, and thousands of identical arrays a second are garbage for nothing.
    const failed = answers.map((a): LeaseVote | undefined => (a.ok ? undefined : { kind: "failed", error: a.error }));
    const results = new Map<number, BatchedVotes>();
    batch.forEach(({ resolve }, index) => {
      let pattern = 0;
      for (const a of answers) pattern = pattern * 3 + (a.ok ? (a.value[index] ? 1 : 2) : 0);
      let result = results.get(pattern);
      if (!result) {
        const votes = answers.map((a, i): LeaseVote => failed[i] ?? (a.ok && a.value[index] ? MATCHED : MISSING));
        result = { votes, startMs, elapsedMs };
        results.set(pattern, result);
      }
      resolve(result);
    });
    // Detached: the next batch belongs to no call, least of all to one this batch answered.
    if (this.waiting > 0) detached(this.#flush);
  }

  /** Smaller batches after one that no instance answered in time; back up as batches are answered. */
  #adapt(answers: readonly Settled<boolean[]>[], size: number, elapsedMs: number): void {
    if (answers.some((a) => a.ok)) {
      if (size >= this.#limit) this.#limit = Math.min(this.#maxBatch, this.#limit * 2);
      return;
    }
    // A timer that fired well past its time means this process stalled: the
    // instances may have answered in time, and the batch size is not to blame.
    const onTime = elapsedMs < 1.5 * this.#timeoutMs;
    if (onTime && answers.some((a) => !a.ok && a.error instanceof TimeoutError))
      this.#limit = Math.max(Math.min(MIN_BATCH, this.#maxBatch), Math.floor(this.#limit / 2));
  }
}
