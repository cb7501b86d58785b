import { abortReason } from "../util/abort.ts";
import type { LatestVerdict, Refusal } from "./refusal.ts";
import type { Watch } from "./release-watch.ts";

/**
 * FIFO of the callers of this sidecar waiting for one lock name. Only the
 * head contends with other sidecars, so N local waiters cost the instances
 * what one does. The queue's waiting ticket (fairness across sidecars)
 * passes from head to head while nobody acquires; a grant consumes it, so
 * the next head queues behind every other sidecar's older ticket.
 *
 * Batches: a grant won by the rules of the tickets opens a batch made of
 * every caller queued here at that moment. Within it, the lock passes from
 * caller to caller here (handovers) before any other sidecar's ticket, so
 * the lock changes sidecar once per batch rather than once per caller.
 * Callers who queue later wait for the next fair grant. A waiter elsewhere
 * thus waits at most for the callers that were already waiting here, and
 * for no more than `maxBatch` of them (0: no batches, strict ticket order).
 *
 * The queue keeps the latest attempt's verdict on its name, so the callers
 * behind the head learn what its attempts found: contention or an outage.
 */
export class LocalQueues {
  readonly #queues = new Map<string, Queue>();
  readonly #newTicket: () => string;
  readonly #nowMs: () => number;
  readonly #maxBatch: number;

  constructor(newTicket: () => string, nowMs: () => number, maxBatch: number) {
    this.#newTicket = newTicket;
    this.#nowMs = nowMs;
    this.#maxBatch = maxBatch;
  }

  /** Waiters queued for `name`, head included. */
  size(name: string): number {
    return this.#queues.get(name)?.waiters.length ?? 0;
  }

  /** Notes the latest attempt on `name` for the callers queued here; nobody needs it without a queue. */
  noteVerdict(name: string, refusal: Refusal): void {
    const queue = this.#queues.get(name);
    if (queue) queue.latest = { refusal, atMs: this.#nowMs() };
  }

  /** The latest attempt on `name` since callers began to queue for it here. */
  latestVerdict(name: string): LatestVerdict | undefined {
    return this.#queues.get(name)?.latest;
  }

  /**
   * Resolves with a Turn once the caller heads the queue for `name`, or with
   * undefined when `untilMs` (a Date.now()-free timeout, in ms from now)
   * passes first. Rejects with the abort reason if `signal` aborts; in every
   * case but a Turn the caller has left the queue.
   */
  enter(name: string, timeoutMs: number, signal?: AbortSignal): Promise<Turn | undefined> {
    let queue = this.#queues.get(name);
    if (!queue)
      this.#queues.set(
        name,
        (queue = {
          waiters: [],
          ticket: undefined,
          afterGrant: false,
          watch: undefined,
          batchStartMs: Number.NEGATIVE_INFINITY,
          batchServed: 0,
          latest: undefined,
        }),
      );
    const q = queue;
    return new Promise<Turn | undefined>((resolve, reject) => {
      if (signal?.aborted) {
        this.#dropIfEmpty(name, q);
        reject(abortReason(signal));
        return;
      }
      const waiter: Waiter = {
        queuedAtMs: this.#nowMs(),
        start: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(this.#turn(name, q, waiter));
        },
      };
      const leaveEarly = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const index = q.waiters.indexOf(waiter);
        if (index >= 0) q.waiters.splice(index, 1);
        this.#dropIfEmpty(name, q);
      };
      const onAbort = (): void => {
        leaveEarly();
        reject(abortReason(signal!));
      };
      const timer = setTimeout(
        () => {
          leaveEarly();
          resolve(undefined);
        },
        Math.max(0, timeoutMs),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      q.waiters.push(waiter);
      if (q.waiters.length === 1) waiter.start();
    });
  }

  #turn(name: string, queue: Queue, waiter: Waiter): Turn {
    let left = false;
    return {
      // Made at the first attempt that needs it: its time then orders it
      // after every ticket other sidecars already registered.
      ticket: () => (queue.ticket ??= this.#newTicket()),
      currentTicket: () => queue.ticket,
      afterGrant: queue.afterGrant,
      inBatch: () => waiter.queuedAtMs < queue.batchStartMs && queue.batchServed < this.#maxBatch,
      get watch() {
        return queue.watch;
      },
      keepWatch: (watch) => {
        if (queue.watch !== watch) queue.watch?.close();
        return (queue.watch = watch);
      },
      leave: (acquired, fair) => {
        const ticket = queue.ticket;
        if (left) return { emptied: false, ticket };
        left = true;
        queue.waiters.splice(queue.waiters.indexOf(waiter), 1);
        queue.afterGrant = acquired;
        if (acquired && fair) {
          queue.batchStartMs = this.#nowMs();
          queue.batchServed = 0;
        } else if (acquired) {
          queue.batchServed++;
        }
        // A grant consumed the ticket on the instances.
        if (acquired) queue.ticket = undefined;
        const emptied = this.#dropIfEmpty(name, queue);
        queue.waiters[0]?.start();
        return { emptied, ticket };
      },
    };
  }

  #dropIfEmpty(name: string, queue: Queue): boolean {
    if (queue.waiters.length > 0 || this.#queues.get(name) !== queue) return false;
    this.#queues.delete(name);
    queue.watch?.close();
    queue.watch = undefined;
    return true;
  }
}

interface Queue {
  waiters: Waiter[];
  ticket: string | undefined;
  /** The last head left with the lock: it is held here now. */
  afterGrant: boolean;
  /** Release notices for the name, shared by successive heads; closed when the queue empties. */
  watch: Watch | undefined;
  /** When the last fair grant here opened a batch: callers queued before it belong to it. */
  batchStartMs: number;
  /** Callers served in the batch so far, fair grant excluded. */
  batchServed: number;
  /** What the latest attempt on the name found (a grant here counts as held). */
  latest: LatestVerdict | undefined;
}

interface Waiter {
  queuedAtMs: number;
  start(): void;
}

export interface Turn {
  /** The queue's waiting ticket, to present on every attempt. */
  ticket(): string;
  /** The queue's ticket if one was made (release notices naming it are for this queue). */
  currentTicket(): string | undefined;
  /**
   * The previous head just acquired the lock, so it is held by a caller of
   * this sidecar: wait for its release before trying.
   */
  readonly afterGrant: boolean;
  /** Queued before the batch in progress began: may be handed the lock ahead of other sidecars' tickets. */
  inBatch(): boolean;
  /** The queue's release subscription, if a head opened one. */
  readonly watch: Watch | undefined;
  /** Hands a subscription to the queue, which closes it when the last waiter leaves. */
  keepWatch(watch: Watch): Watch;
  /**
   * Leaves the head of the queue and hands the turn to the next waiter.
   * `fair`: the grant followed the tickets' order (it opens a batch), as
   * opposed to a handover within a batch. `emptied`: nobody else waits, so
   * the ticket (if any) may be withdrawn.
   */
  leave(acquired: boolean, fair: boolean): { emptied: boolean; ticket: string | undefined };
}

/**
 * A waiting ticket sorts by the waiter's start on the wall clock (zero-padded
 * milliseconds), then by random bits: every instance orders tickets alike.
 */
export function waitingTicket(wallMs: number, random: string): string {
  return `${Math.floor(wallMs).toString().padStart(15, "0")}-${random.slice(0, 12)}`;
}
