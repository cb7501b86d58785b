import type { SidecarOptions } from "../config/options.ts";
import { LockError } from "../errors/lock-error.ts";
import type { AcquireReply, Announcement, HandoverReply, InstanceAcquire, InstanceRelease, LockInstance, LockKeys } from "../instances/lock-instance.ts";
import { systemClock, type Clock } from "../redlock/clock.ts";
import { raiseConfirmed } from "../redlock/fencing.ts";
import { quorumOf } from "../redlock/quorum.ts";
import { systemRandomness, type Randomness } from "../redlock/randomness.ts";
import { isStillValid } from "../redlock/validity.ts";
import { isRacingSplit, judgeAcquire, judgeExtend, judgeRelease, type AcquireVerdict, type AcquireVote, type LeaseVote } from "../redlock/votes.ts";
import { throwIfAborted } from "../util/abort.ts";
import type { EngineObserver } from "./engine-observer.ts";
import { fanOut, fanOutUntil, StillPending, type Settled } from "./fan-out.ts";
import { HandoverOffers, type HandoverOffer } from "./handover-offer.ts";
import { lockKeys } from "./keys.ts";
import type { AcquireResult, Lease } from "./lease.ts";
import { formatLeaseId, parseLeaseId } from "./lease-id.ts";
import { LeaseRegistry } from "./lease-registry.ts";
import { LocalQueues, type Turn } from "./local-queue.ts";
import { answerBehindQueue, headIntervalMs, refusalResult, type Refusal } from "./refusal.ts";
import { ReleaseWatches, type Watch } from "./release-watch.ts";
import { RenewalBatcher } from "./renewal-batcher.ts";

/** The settings the engine reads; their meaning, units and defaults live in the settings table. */
export type EngineOptions = Pick<
  SidecarOptions,
  "keyPrefix" | "instanceTimeoutMs" | "retryDelayMs" | "retryJitterMs" | "fenceRetentionMs" | "waitTicketTtlMs" | "maxBatch" | "maxLeases" | "maxWaiters"
>;

export interface EngineDeps {
  clock?: Clock;
  randomness?: Randomness;
  observer?: EngineObserver | undefined;
}

/**
 * Redlock over N independent instances: acquire, extend and release leases.
 * Knows nothing of gRPC: it throws LockError and honours AbortSignals.
 */
export class LockEngine {
  readonly instances: readonly LockInstance[];
  readonly quorum: number;
  readonly leases = new LeaseRegistry();
  readonly #options: EngineOptions;
  readonly #clock: Clock;
  readonly #random: Randomness;
  readonly #observer: EngineObserver | undefined;
  readonly #queues: LocalQueues;
  readonly #watches: ReleaseWatches;
  readonly #renewals: RenewalBatcher;
  readonly #offers = new HandoverOffers<Attempt>();
  /** Fan-outs with answers still out: close() lets them land. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #waiting = 0;
  #acquiring = 0;

  constructor(instances: readonly LockInstance[], options: EngineOptions, deps: EngineDeps = {}) {
    if (instances.length === 0) throw new RangeError("the engine needs at least one instance");
    this.instances = instances;
    this.quorum = quorumOf(instances.length);
    this.#options = options;
    this.#clock = deps.clock ?? systemClock;
    this.#random = deps.randomness ?? systemRandomness;
    this.#observer = deps.observer;
    this.#queues = new LocalQueues(
      () => waitingTicket(this.#clock.wallMs(), this.#random.leaseSecret()),
      () => this.#clock.monotonicMs(),
      options.maxBatch,
    );
    this.#watches = new ReleaseWatches(instances, options.instanceTimeoutMs);
    this.#renewals = new RenewalBatcher(instances, options.instanceTimeoutMs, this.#clock);
  }

  get clock(): Clock {
    return this.#clock;
  }

  /**
   * Tries to take `name`. With a wait, callers of this sidecar queue FIFO
   * per name and only the head contends: it presents the queue's waiting
   * ticket (so other sidecars' newcomers cannot overtake it), and between
   * attempts it sleeps until a release is announced, the holder's TTL runs
   * out or the fallback delay passes. Held for the whole wait:
   * `acquired: false`. Fewer than a majority answering on the last attempt
   * (the head's, for a caller still queued): `unavailable`. An aborted signal rolls back the attempt in flight and
   * throws its reason.
   */
  async acquire(name: string, ttlMs: number, waitMs: number, signal?: AbortSignal): Promise<AcquireResult> {
    throwIfAborted(signal);
    const { maxLeases } = this.#options;
    // Acquires in flight count too, so concurrent calls cannot overshoot.
    if (this.leases.sizeAt(this.#clock.monotonicMs()) + this.#acquiring >= maxLeases) {
      throw new LockError("resource-exhausted", `this sidecar holds ${maxLeases} leases, its limit (LOCK_MAX_LEASES)`);
    }
    this.#acquiring++;
    try {
      return await this.#acquireCounted(name, ttlMs, waitMs, signal);
    } finally {
      this.#acquiring--;
    }
  }

  async #acquireCounted(name: string, ttlMs: number, waitMs: number, signal?: AbortSignal): Promise<AcquireResult> {
    const { maxWaiters } = this.#options;
    const keys = lockKeys(this.#options.keyPrefix, name);
    if (waitMs <= 0) return this.#acquireOnce(name, keys, ttlMs, this.#clock.monotonicMs(), signal);
    if (this.#waiting >= maxWaiters) {
      throw new LockError("resource-exhausted", `${maxWaiters} acquires are already waiting on this sidecar, its limit (LOCK_MAX_WAITERS)`);
    }
    this.#waiting++;
    try {
      return await this.#acquireWaiting(name, keys, ttlMs, waitMs, signal);
    } finally {
      this.#waiting--;
    }
  }

  /** Acquire calls waiting now, queued or at the head (for metrics). */
  get waiting(): number {
    return this.#waiting;
  }

  async #acquireWaiting(name: string, keys: LockKeys, ttlMs: number, waitMs: number, signal?: AbortSignal): Promise<AcquireResult> {
    const waitEndMs = this.#clock.monotonicMs() + waitMs;
    const turn = await this.#queues.enter(name, waitMs, signal);
    if (!turn) return this.#acquireOnce(name, keys, ttlMs, waitEndMs - waitMs, signal);
    let acquired = false;
    let fair = true;
    // The subscription belongs to the queue: it lasts while anyone here waits
    // on this name, and goes the moment the last waiter leaves.
    let watch: Watch | undefined = turn.watch;
    const openWatch = async (): Promise<Watch> => turn.keepWatch(await this.#watches.open(name, keys.channel, turn.currentTicket));
    try {
      // The outcome of the last try: an attempt, or a handover from a release here.
      let verdict: Attempt | undefined;
      if (turn.afterGrant) {
        // Held by the caller just served here: its release hands the lock
        // over. Notices so far were for releases before that grant; a watch
        // opened now has heard only later ones (a release while subscribing).
        if (watch) watch.clearPending();
        else watch = await openWatch();
      } else {
        verdict = await this.#attempt(name, keys, ttlMs, turn.ticket(), signal);
      }
      for (;;) {
        if (verdict?.kind === "granted") {
          acquired = true;
          return { acquired: true, lease: verdict.lease };
        }
        const remainingMs = waitEndMs - this.#clock.monotonicMs();
        if (verdict && remainingMs <= 0) return refusalResult(verdict, this.instances.length, this.quorum);
        if (!watch) {
          watch = await openWatch();
          // A release between that attempt and a new subscription went unannounced.
          if (watch.fresh) {
            verdict = await this.#attempt(name, keys, ttlMs, turn.ticket(), signal);
            fair = true;
            continue;
          }
        }
        const delayMs = verdict ? this.#retryDelayMs(verdict) : this.#options.retryDelayMs + this.#random.unit() * this.#options.retryJitterMs;
        const handed = await this.#waitAsHead(name, turn, watch, ttlMs, Math.max(0, Math.min(delayMs, remainingMs)), signal);
        if (handed) {
          // A release here tried us in its own step: that was this round's attempt.
          verdict = handed.outcome;
          fair = !handed.overtook;
          continue;
        }
        watch.clearPending();
        verdict = await this.#attempt(name, keys, ttlMs, turn.ticket(), signal);
        fair = true;
      }
    } finally {
      const { emptied, ticket } = turn.leave(acquired, fair);
      // Nobody here waits any more: let other sidecars' waiters go first now.
      if (emptied && !acquired && ticket !== undefined) void this.#fanOut(this.instances, (i) => i.withdrawTicket(keys.queue, ticket));
    }
  }

  /**
   * One try, for a caller without a wait or whose wait ran out in the queue.
   * Callers queued here go first: behind them it answers from their head's
   * attempts when those tell (answerBehindQueue), or else asks the instances
   * itself and hands a grant over to the head (it waited longer).
   */
  async #acquireOnce(name: string, keys: LockKeys, ttlMs: number, queuedAtMs: number, signal?: AbortSignal): Promise<AcquireResult> {
    const behind = this.#queues.size(name) > 0;
    const known = behind ? answerBehindQueue(this.#queues.latestVerdict(name), this.#clock.monotonicMs(), queuedAtMs, headIntervalMs(this.#options)) : undefined;
    if (known) return refusalResult(known, this.instances.length, this.quorum);
    const verdict = await this.#attempt(name, keys, ttlMs, "", signal);
    if (verdict.kind !== "granted") return refusalResult(verdict, this.instances.length, this.quorum);
    if (!behind || this.#queues.size(name) === 0) return { acquired: true, lease: verdict.lease };
    // The lock was free, but callers queued here go first: hand it to their head.
    await this.release(name, verdict.lease.leaseId).catch(() => undefined);
    return { acquired: false, retryAfterMs: undefined };
  }

  /**
   * The head's wait between tries: until a release is announced, `delayMs`
   * passes, or a caller of this sidecar releases the lock and tries us in
   * the same step (then its outcome). An abort during a handover in flight
   * waits for its outcome, so a grant that lands is released, not leaked.
   */
  async #waitAsHead(
    name: string,
    turn: Turn,
    watch: Watch,
    ttlMs: number,
    delayMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ outcome: Attempt; overtook: boolean } | undefined> {
    const overtake = turn.inBatch();
    const offer = this.#offers.offer(name, { ttlMs, ticket: turn.ticket, overtake, signal, wake: () => watch.interrupt() });
    let aborted: { reason: unknown } | undefined;
    try {
      await watch.wait(delayMs, signal);
    } catch (reason) {
      aborted = { reason };
    }
    const handed = offer.close();
    if (!handed) {
      if (aborted) throw aborted.reason;
      return undefined;
    }
    const outcome = await handed;
    if (aborted) {
      if (outcome.kind === "granted") await this.release(name, outcome.lease.leaseId).catch(() => undefined);
      throw aborted.reason;
    }
    return { outcome, overtook: overtake };
  }

  /** Renews a held lease for `ttlMs` from now; `not-held` when it is gone. */
  async extend(name: string, leaseId: string, ttlMs: number, signal?: AbortSignal): Promise<Lease> {
    const { secret, fencingToken } = parseLeaseId(leaseId);
    const known = this.leases.get(leaseId);
    const keys = lockKeys(this.#options.keyPrefix, name);
    throwIfAborted(signal);
    if (known && (known.name !== name || known.endMs <= this.#clock.monotonicMs())) {
      // Past its conservative end the lease is lost, whatever the instances
      // still say: renewing it now could overlap a new holder's lease. Said
      // at once; the clean-up (bounded by the timeout) goes on behind.
      void this.#cleanUp(name, leaseId, secret);
      throw notHeld(name);
    }
    const { votes, startMs, elapsedMs } = await this.#renewals.extend({ lockKey: keys.lock, secret, ttlMs });
    const verdict = judgeExtend(votes, { startMs, elapsedMs, ttlMs });
    switch (verdict.kind) {
      case "extended": {
        // Released or found lost here while the renewal was out (its keys are
        // gone or going): storing it again would revive a lease nobody holds.
        if (known && (this.leases.get(leaseId) === undefined || this.leases.isLost(leaseId))) throw notHeld(name);
        // A known lease keeps its own id and token, whatever the caller's copy
        // says. Its end never moves earlier: the keys kept the longer TTL of an
        // earlier renewal (EXTEND never shortens them), and its owner was told it.
        const lease: Lease = known
          ? { ...known, ttlMs: Math.max(known.ttlMs, ttlMs), endMs: Math.max(known.endMs, verdict.endMs) }
          : { name, leaseId, fencingToken, ttlMs, endMs: verdict.endMs };
        this.leases.put(lease, this.#clock.monotonicMs());
        return lease;
      }
      case "lost":
        void this.#cleanUp(name, leaseId, secret);
        throw notHeld(name);
      case "unavailable":
        throw new LockError(
          "unavailable",
          `lock ${JSON.stringify(name)}: only ${verdict.answered} of ${this.instances.length} instances answered (need ${this.quorum}); the lease was not renewed`,
        );
      case "too-slow":
        throw new LockError(
          "unavailable",
          `lock ${JSON.stringify(name)}: instances took ${Math.round(verdict.elapsedMs)} ms to renew, leaving no validity; the lease was not renewed`,
        );
    }
  }

  /**
   * Deletes the lease wherever it is still held. True when a majority still
   * held it; false when it was no longer held. Unavailable when fewer than a
   * majority answered (the lease may linger on the others until its TTL).
   */
  async release(name: string, leaseId: string): Promise<boolean> {
    const { secret, fencingToken } = parseLeaseId(leaseId);
    const keys = lockKeys(this.#options.keyPrefix, name);
    const release: InstanceRelease = { lockKey: keys.lock, secret, announce: { channel: keys.channel, tag: releaseTag(fencingToken), queueKey: keys.queue } };
    const offer = this.#offers.take(name);
    let votes: LeaseVote[];
    if (offer) {
      votes = await this.#handOver(name, keys, release, offer, leaseId);
    } else {
      // Released once a majority deleted it; the rest delete it all the same.
      const enough = (answers: readonly (Settled<boolean> | undefined)[]): boolean => countAnswers(answers, (deleted) => deleted) >= this.quorum;
      votes = toLeaseVotes(await this.#fanOutUntil((i) => i.release(keys.lock, secret, release.announce), enough).first);
      if (votes.some((v) => v.kind === "matched")) this.#watches.notifyLocal(name, releaseTag(fencingToken));
    }
    this.leases.delete(name, leaseId);
    if (judgeRelease(votes)) return true;
    const answered = votes.filter((v) => v.kind !== "failed").length;
    if (answered >= this.quorum) return false;
    throw new LockError(
      "unavailable",
      `lock ${JSON.stringify(name)}: only ${answered} of ${this.instances.length} instances answered the release (need ${this.quorum}); it expires at its TTL elsewhere`,
    );
  }

  /**
   * Releases and tries the waiting head's acquire in one step on each
   * instance; the head gets the outcome, judged as any attempt (majority,
   * validity, fencing, rollback), and always gets one, even if this throws.
   * Returns the release's votes, as soon as a majority released.
   */
  async #handOver(name: string, keys: LockKeys, release: InstanceRelease, offer: HandoverOffer<Attempt>, leaseId: string): Promise<LeaseVote[]> {
    let delivered = false;
    try {
      // The head learns the outcome directly: this release's notices are not news to it.
      if (release.announce) this.#watches.markSeen(keys.channel, release.announce.tag);
      // Only a lease this sidecar holds may pass to its batch ahead of other
      // sidecars' tickets; a stale or foreign one is released in ticket order.
      const known = this.leases.get(leaseId);
      const held = known !== undefined && known.name === name && known.endMs > this.#clock.monotonicMs();
      const request: InstanceAcquire = { ...this.#acquireRequest(keys, offer.ttlMs, offer.ticket()), overtake: offer.overtake && held };
      const startMs = this.#clock.monotonicMs();
      const { first, all } = this.#fanOutUntil((i) => i.handover(release, request), (answers) => countAnswers(answers, (a) => a.released) >= this.quorum);
      const replies = await first;
      const acquireReplies = (answers: readonly Settled<HandoverReply>[]): Settled<AcquireReply>[] => answers.map((r) => (r.ok ? { ok: true, value: r.value.acquire } : r));
      // The head's fate is known early when a majority agrees on it; otherwise it waits for every answer.
      const agreeing = Math.max(countAnswers(replies, (a) => a.acquire.granted), countAnswers(replies, (a) => !a.acquire.granted));
      const decided = agreeing >= this.quorum ? Promise.resolve(replies) : all;
      const outcome = decided.then((answers) => this.#settle(name, request, acquireReplies(answers), all.then(acquireReplies), startMs, offer.signal));
      offer.deliver(outcome);
      delivered = true;
      outcome.then(
        (attempt) => this.#observer?.handover(attempt.kind === "granted" ? "granted" : "not_granted"),
        () => this.#observer?.handover("not_granted"),
      );
      return toLeaseVotes(replies.map((r): Settled<boolean> => (r.ok ? { ok: true, value: r.value.released } : r)));
    } catch (error) {
      if (!delivered) offer.deliver(Promise.reject(error));
      throw error;
    }
  }

  /** Releases every lease this sidecar still holds (shutdown). Returns how many. */
  async releaseAll(): Promise<number> {
    const held = this.leases.valid(this.#clock.monotonicMs());
    const results = await Promise.allSettled(held.map((lease) => this.release(lease.name, lease.leaseId)));
    return results.filter((r) => r.status === "fulfilled" && r.value).length;
  }

  /** How many instances answer a PING within the instance timeout. */
  async reachableCount(): Promise<number> {
    const answers = await fanOut(this.instances, this.#options.instanceTimeoutMs * 4, (i) => i.ping());
    return answers.filter((a) => a.ok).length;
  }

  async close(): Promise<void> {
    this.#watches.closeAll();
    // Calls still out (the slowest instance of an early answer, a rollback,
    // a ticket withdrawal, possibly started by one that just ended): let
    // them land before the connections go. Each is bounded by the timeout.
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await Promise.allSettled(this.instances.map((i) => i.close()));
  }

  /** fanOutUntil over every instance, tracked until its last answer (see close). */
  #fanOutUntil<T>(
    call: (instance: LockInstance) => Promise<T>,
    enough: (answers: readonly (Settled<T> | undefined)[]) => boolean,
  ): { first: Promise<Settled<T>[]>; all: Promise<Settled<T>[]> } {
    const fan = fanOutUntil(this.instances, this.#options.instanceTimeoutMs, call, enough);
    this.#inFlight.add(fan.all);
    void fan.all.then(() => this.#inFlight.delete(fan.all));
    return fan;
  }

  /** fanOut, tracked until its last answer (see close). */
  #fanOut<T>(instances: readonly LockInstance[], call: (instance: LockInstance) => Promise<T>): Promise<Settled<T>[]> {
    const all = fanOut(instances, this.#options.instanceTimeoutMs, call);
    this.#inFlight.add(all);
    void all.then(() => this.#inFlight.delete(all));
    return all;
  }

  /** One Redlock round; every outcome but a grant is rolled back on all instances. */
  async #attempt(name: string, keys: LockKeys, ttlMs: number, ticket: string, signal: AbortSignal | undefined): Promise<Attempt> {
    const request = this.#acquireRequest(keys, ttlMs, ticket);
    const startMs = this.#clock.monotonicMs();
    // The fan-out is not abandoned on abort: it is bounded by the instance
    // timeout, and waiting for it means the rollback follows every SET. A
    // majority of grants is enough to judge: the rest count as failed,
    // which is what a rollback or a ticket withdrawal must assume anyway.
    const { first, all } = this.#fanOutUntil((i) => i.acquire(request), (answers) => countAnswers(answers, (a) => a.granted) >= this.quorum);
    return this.#settle(name, request, await first, all, startMs, signal);
  }

  #acquireRequest(keys: LockKeys, ttlMs: number, ticket: string): InstanceAcquire {
    const { fenceRetentionMs, waitTicketTtlMs } = this.#options;
    return { keys, secret: this.#random.leaseSecret(), ttlMs, fenceRetentionMs, ticket, ticketTtlMs: waitTicketTtlMs };
  }

  /**
   * Judges the instances' answers to one acquire sent at `startMs`: a lease,
   * or everything rolled back. `replies` may hold StillPending failures
   * (judged early); `all` brings every answer, for the ticket's withdrawal.
   */
  async #settle(
    name: string,
    request: InstanceAcquire,
    early: readonly Settled<AcquireReply>[],
    all: Promise<readonly Settled<AcquireReply>[]>,
    startMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    const { keys, secret, ttlMs, ticket } = request;
    const { fenceRetentionMs } = this.#options;
    const judge = (answers: readonly Settled<AcquireReply>[]): AcquireVerdict =>
      judgeAcquire(answers.map(toAcquireVote), { startMs, elapsedMs: this.#clock.monotonicMs() - startMs, ttlMs });
    let replies = early;
    let verdict = judge(replies);
    if (verdict.kind === "granted" && verdict.fencing.raiseNeeded && replies.some((r) => !r.ok && r.error instanceof StillPending)) {
      // Counters disagree (a new name's start from each instance's clock):
      // raise them to the highest of all, not of the early majority, or the
      // outlier would ask for another raise on a later grant.
      replies = await all;
      verdict = judge(replies);
    }
    if (verdict.kind === "granted" && verdict.fencing.raiseNeeded && !signal?.aborted) {
      const { token } = verdict.fencing;
      const raised = await this.#fanOut(this.instances, (i) => i.raiseFence(keys.fence, token, fenceRetentionMs));
      const confirmed = raised.flatMap((r) => (r.ok ? [r.value] : []));
      const elapsedMs = this.#clock.monotonicMs() - startMs;
      if (!raiseConfirmed(confirmed, token, this.quorum)) verdict = { kind: "unavailable", answered: confirmed.length };
      else if (!isStillValid(startMs, ttlMs, elapsedMs)) verdict = { kind: "too-slow", elapsedMs };
    }
    if (verdict.kind !== "granted" || signal?.aborted) {
      // Every instance that did not answer "held" may carry our key (a timed
      // out SET can still land). Announce only when a majority had the lock
      // free (a grant that came too late or was cancelled): announcing a
      // contended or unavailable attempt's rollback would wake waiters, and
      // through their own rollbacks this one, for a lock nobody can take.
      const mayHoldOurKey = this.instances.filter((_, i) => {
        const reply = replies[i]!;
        return !reply.ok || reply.value.granted;
      });
      const majorityFree = countAnswers(replies, (a) => a.granted) >= this.quorum;
      await this.#rollBack(keys, secret, majorityFree, mayHoldOurKey);
      if (verdict.kind === "contended" && isRacingSplit(replies.map(toAcquireVote))) {
        // Contenders racing for a free lock: look again soon, not after the fallback delay.
        verdict = { ...verdict, retryAfterMs: Math.min(verdict.retryAfterMs ?? SPLIT_RETRY_MS, SPLIT_RETRY_MS * (1 + this.#random.unit())) };
      }
      throwIfAborted(signal);
      const refusal: Refusal = verdict.kind === "granted" ? { kind: "unavailable", answered: 0 } : verdict;
      this.#queues.noteVerdict(name, refusal);
      return refusal;
    }
    if (ticket !== "") {
      // The script withdraws the ticket where it granted; elsewhere (the old
      // holder's key was still there) it would stand as the oldest ticket and
      // block every other waiter on that instance until it expired. Known
      // once the slowest instance answered (or timed out).
      void all.then((answers) => {
        const notGranted = this.instances.filter((_, i) => {
          const reply = answers[i]!;
          return !reply.ok || !reply.value.granted;
        });
        if (notGranted.length > 0) void this.#fanOut(notGranted, (i) => i.withdrawTicket(keys.queue, ticket));
      });
    }
    const leaseId = formatLeaseId({ secret, fencingToken: verdict.fencing.token });
    const lease: Lease = { name, leaseId, fencingToken: verdict.fencing.token, ttlMs, endMs: verdict.endMs };
    this.leases.put(lease, this.#clock.monotonicMs());
    // Held by a caller of this sidecar: contention for those queued behind it.
    this.#queues.noteVerdict(name, { kind: "contended", retryAfterMs: lease.endMs - this.#clock.monotonicMs() });
    return { kind: "granted", lease };
  }

  /** Unlocks the instances, also those that seemed to fail: their SET may have landed. */
  async #rollBack(keys: LockKeys, secret: string, announce: boolean, instances: readonly LockInstance[] = this.instances): Promise<void> {
    if (instances.length === 0) return;
    let announcement: Announcement | undefined;
    if (announce) {
      announcement = { channel: keys.channel, tag: `rollback-${this.#random.leaseSecret().slice(0, 8)}`, queueKey: keys.queue };
      // Our own waiters need no wake-up for a rollback they caused.
      this.#watches.markSeen(keys.channel, announcement.tag);
    }
    await this.#fanOut(instances, (i) => i.release(keys.lock, secret, announcement));
  }

  async #cleanUp(name: string, leaseId: string, secret: string): Promise<void> {
    this.leases.expire(name, leaseId, this.#clock.monotonicMs());
    await this.#rollBack(lockKeys(this.#options.keyPrefix, name), secret, true);
  }

  #retryDelayMs(verdict: Refusal): number {
    const { retryDelayMs, retryJitterMs } = this.#options;
    // The fallback when no release is announced; it also refreshes the
    // waiting ticket well before the ticket expires.
    const delay = Math.min(retryDelayMs + this.#random.unit() * retryJitterMs, this.#options.waitTicketTtlMs / 3);
    // No point sleeping past the moment the holder's lease runs out.
    if (verdict.kind === "contended" && verdict.retryAfterMs !== undefined && verdict.retryAfterMs >= 0) {
      return Math.min(delay, verdict.retryAfterMs + 1);
    }
    return delay;
  }
}

/** Pause before looking again after contenders split the vote for a free lock. */
const SPLIT_RETRY_MS = 3;

/** Names a release in announcements by the lease's fencing token: unique per grant, not secret. */
function releaseTag(fencingToken: bigint): string {
  return fencingToken.toString();
}

/**
 * A waiting ticket sorts by the waiter's start on the wall clock (zero-padded
 * milliseconds), then by random bits: every instance orders tickets alike.
 */
function waitingTicket(wallMs: number, random: string): string {
  return `${Math.floor(wallMs).toString().padStart(15, "0")}-${random.slice(0, 12)}`;
}

/** Answers in (and successful) whose value satisfies `test`; missing ones (still out) do not count. */
function countAnswers<T>(answers: readonly (Settled<T> | undefined)[], test: (value: T) => boolean): number {
  let count = 0;
  for (const answer of answers) if (answer?.ok === true && test(answer.value)) count++;
  return count;
}

type Attempt = { kind: "granted"; lease: Lease } | Refusal;

function toAcquireVote(reply: Settled<AcquireReply>): AcquireVote {
  if (!reply.ok) return { kind: "failed", error: reply.error };
  return reply.value.granted ? { kind: "granted", fence: reply.value.fence } : { kind: "held", holderTtlMs: reply.value.holderTtlMs };
}

function toLeaseVotes(replies: readonly Settled<boolean>[]): LeaseVote[] {
  return replies.map((r) => (!r.ok ? { kind: "failed", error: r.error } : r.value ? { kind: "matched" } : { kind: "missing" }));
}

function notHeld(name: string): LockError {
  return new LockError("not-held", `lock ${JSON.stringify(name)}: the lease is no longer held (expired, released or taken over)`);
}
