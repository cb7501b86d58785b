import type {
  AcquireReply,
  Announcement,
  InstanceAcquire,
  LockInstance,
  LockKeys,
} from "../instances/lock-instance.ts";
import { raiseConfirmed } from "../redlock/fencing.ts";
import { isStillValid } from "../redlock/validity.ts";
import { isRacingSplit, judgeAcquire, type AcquireVerdict, type AcquireVote } from "../redlock/votes.ts";
import { throwIfAborted } from "../util/abort.ts";
import type { EngineParts } from "./engine-parts.ts";
import { countAnswers, StillPending, type Settled } from "./fan-out.ts";
import type { Lease } from "./lease.ts";
import { leaseIdOf } from "./lease-id.ts";
import type { Refusal } from "./refusal.ts";

/** The outcome of one try for a lock: a lease, or why not. */
export type Attempt = { kind: "granted"; lease: Lease } | Refusal;

type Grant = Extract<AcquireVerdict, { kind: "granted" }>;

/** Pause before looking again after contenders split the vote for a free lock. */
const SPLIT_RETRY_MS = 3;

/**
 * One Redlock round: ask every instance for the lock, judge the answers,
 * raise the fencing counters when they disagree, and roll back every
 * outcome but a grant. A handover's acquire is judged here too.
 */
export class RedlockRound {
  readonly #parts: EngineParts;

  constructor(parts: EngineParts) {
    this.#parts = parts;
  }

  /** One round; every outcome but a grant is rolled back on all instances. `owner` is recorded with the lock. */
  async attempt(
    name: string,
    keys: LockKeys,
    ttlMs: number,
    ticket: string,
    signal: AbortSignal | undefined,
    owner = "",
  ): Promise<Attempt> {
    const { calls, clock, quorum } = this.#parts;
    const request = this.request(keys, ttlMs, ticket, owner);
    const startMs = clock.monotonicMs();
    // The fan-out is not abandoned on abort: it is bounded by the instance
    // timeout, and waiting for it means the rollback follows every SET.
    // A majority of grants is enough to judge. The rest count as failed,
    // which is what a rollback or a ticket withdrawal must assume anyway.
    const { first, all } = calls.fanOutUntil(
      (i) => i.acquire(request),
      (answers) => countAnswers(answers, (a) => a.granted) >= quorum,
    );
    return this.settle(name, request, await first, all, startMs, signal);
  }

  /** An acquire as the instances take it, with a new secret; the holder's since is now on the wall clock. */
  request(keys: LockKeys, ttlMs: number, ticket: string, owner = ""): InstanceAcquire {
    const { fenceRetentionMs, waitTicketTtlMs } = this.#parts.options;
    return {
      keys,
      secret: this.#parts.random.leaseSecret(),
      holder: { owner, sinceMs: Math.floor(this.#parts.clock.wallMs()) },
      ttlMs,
      fenceRetentionMs,
      ticket,
      ticketTtlMs: waitTicketTtlMs,
    };
  }

  /**
   * Judges the instances' answers to one acquire sent at `startMs`: a lease,
   * or everything rolled back. `early` may hold StillPending failures
   * (judged early); `all` brings every answer, for the ticket's withdrawal.
   */
  async settle(
    name: string,
    request: InstanceAcquire,
    early: readonly Settled<AcquireReply>[],
    all: Promise<readonly Settled<AcquireReply>[]>,
    startMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    const { clock } = this.#parts;
    const judge = (answers: readonly Settled<AcquireReply>[]): AcquireVerdict =>
      judgeAcquire(answers.map(toAcquireVote), {
        startMs,
        elapsedMs: clock.monotonicMs() - startMs,
        ttlMs: request.ttlMs,
      });
    let replies = early;
    let verdict = judge(replies);
    if (
      verdict.kind === "granted" &&
      verdict.fencing.raiseNeeded &&
      replies.some((r) => !r.ok && r.error instanceof StillPending)
    ) {
      // The counters disagree. Raise them to the highest of all answers, not
      // of the early majority, or the outlier would ask for another raise.
      replies = await all;
      verdict = judge(replies);
    }
    if (verdict.kind === "granted" && verdict.fencing.raiseNeeded && !signal?.aborted)
      verdict = await this.#raiseFence(request, verdict, startMs);
    if (verdict.kind !== "granted" || signal?.aborted) return this.#refuse(name, request, replies, verdict, signal);
    return this.#grant(name, request, verdict, all);
  }

  /** Raises the fencing counter to the token on every instance; the grant stands if a majority confirms in time. */
  async #raiseFence(request: InstanceAcquire, verdict: Grant, startMs: number): Promise<AcquireVerdict> {
    const { calls, clock, quorum, options } = this.#parts;
    const { token } = verdict.fencing;
    const raised = await calls.fanOut(calls.instances, (i) =>
      i.raiseFence(request.keys.fence, token, options.fenceRetentionMs),
    );
    const confirmed = raised.flatMap((r) => (r.ok ? [r.value] : []));
    const elapsedMs = clock.monotonicMs() - startMs;
    if (!raiseConfirmed(confirmed, token, quorum)) return { kind: "unavailable", answered: confirmed.length };
    if (!isStillValid(startMs, request.ttlMs, elapsedMs)) return { kind: "too-slow", elapsedMs };
    return verdict;
  }

  /** No lease (or the caller left): roll back, and tell the callers queued here what the round found. */
  async #refuse(
    name: string,
    request: InstanceAcquire,
    replies: readonly Settled<AcquireReply>[],
    verdict: AcquireVerdict,
    signal: AbortSignal | undefined,
  ): Promise<Refusal> {
    await this.#rollBackRound(request, replies);
    if (verdict.kind === "contended" && isRacingSplit(replies.map(toAcquireVote))) {
      // Contenders racing for a free lock: look again soon, not after the fallback delay.
      const soonMs = SPLIT_RETRY_MS * (1 + this.#parts.random.unit());
      verdict = { ...verdict, retryAfterMs: Math.min(verdict.retryAfterMs ?? SPLIT_RETRY_MS, soonMs) };
    }
    throwIfAborted(signal);
    const refusal: Refusal = verdict.kind === "granted" ? { kind: "unavailable", answered: 0 } : verdict;
    this.#parts.queues.noteVerdict(name, refusal);
    return refusal;
  }

  /**
   * Every instance that did not answer "held" may carry our key: a timed out
   * SET can still land. The rollback is announced only when a majority had
   * the lock free (a grant too late, or cancelled). Announcing a contended or
   * unavailable round's rollback would wake waiters for a lock nobody can
   * take, and their own rollbacks would wake us.
   */
  #rollBackRound(request: InstanceAcquire, replies: readonly Settled<AcquireReply>[]): Promise<void> {
    const { instances, quorum } = this.#parts;
    const mayHoldOurKey = instances.filter((_, i) => {
      const reply = replies[i]!;
      return !reply.ok || reply.value.granted;
    });
    const majorityFree = countAnswers(replies, (a) => a.granted) >= quorum;
    return this.rollBack(request.keys, request.secret, majorityFree, mayHoldOurKey);
  }

  /** A lease: stored here, and contention for the callers queued behind it. */
  #grant(
    name: string,
    request: InstanceAcquire,
    verdict: Grant,
    all: Promise<readonly Settled<AcquireReply>[]>,
  ): Attempt {
    const { clock, leases, queues } = this.#parts;
    this.#withdrawTicketElsewhere(request, all);
    const id = leaseIdOf({ secret: request.secret, fencingToken: verdict.fencing.token });
    const lease: Lease = {
      name,
      leaseId: id.text,
      id,
      fencingToken: id.fencingToken,
      ttlMs: request.ttlMs,
      endMs: verdict.endMs,
      owner: request.holder?.owner ?? "",
      acquiredAtWallMs: request.holder?.sinceMs,
      grantedMs: clock.monotonicMs(),
    };
    leases.put(lease, clock.monotonicMs());
    queues.noteVerdict(name, { kind: "contended", retryAfterMs: lease.endMs - clock.monotonicMs() });
    return { kind: "granted", lease };
  }

  /**
   * The script withdraws the ticket where it granted. Elsewhere (the old
   * holder's key was still there) the ticket would stand as the oldest and
   * block every other waiter on that instance until it expired. Known once
   * the slowest instance answered (or timed out).
   */
  #withdrawTicketElsewhere(request: InstanceAcquire, all: Promise<readonly Settled<AcquireReply>[]>): void {
    const { ticket, keys } = request;
    if (ticket === "") return;
    const { calls, instances } = this.#parts;
    void all.then((answers) => {
      const notGranted = instances.filter((_, i) => {
        const reply = answers[i]!;
        return !reply.ok || !reply.value.granted;
      });
      if (notGranted.length > 0) void calls.fanOut(notGranted, (i) => i.withdrawTicket(keys.queue, ticket));
    });
  }

  /** Unlocks the instances, also those that seemed to fail: their SET may have landed. */
  async rollBack(
    keys: LockKeys,
    secret: string,
    announce: boolean,
    instances: readonly LockInstance[] = this.#parts.instances,
  ): Promise<void> {
    if (instances.length === 0) return;
    let announcement: Announcement | undefined;
    if (announce) {
      announcement = {
        channel: keys.channel,
        tag: `rollback-${this.#parts.random.leaseSecret().slice(0, 8)}`,
        queueKey: keys.queue,
      };
      // Our own waiters need no wake-up for a rollback they caused.
      this.#parts.watches.markSeen(keys.channel, announcement.tag);
    }
    await this.#parts.calls.fanOut(instances, (i) => i.release(keys.lock, secret, announcement));
  }
}

function toAcquireVote(reply: Settled<AcquireReply>): AcquireVote {
  if (!reply.ok) return { kind: "failed", error: reply.error };
  return reply.value.granted
    ? { kind: "granted", fence: reply.value.fence }
    : { kind: "held", holderTtlMs: reply.value.holderTtlMs };
}
