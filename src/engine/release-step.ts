import { LockError } from "../errors/lock-error.ts";
import type {
  AcquireReply,
  Announcement,
  HandoverReply,
  InstanceAcquire,
  InstanceRelease,
  LockKeys,
} from "../instances/lock-instance.ts";
import { judgeRelease, type LeaseVote } from "../redlock/votes.ts";
import type { EngineParts } from "./engine-parts.ts";
import { countAnswers, type Settled } from "./fan-out.ts";
import type { HandoverOffer } from "./handover-offer.ts";
import { lockKeys } from "../instances/keys.ts";
import type { LeaseId } from "./lease-id.ts";
import type { Attempt, RedlockRound } from "./redlock-round.ts";

/**
 * Release: delete the lease wherever it is still held. When a caller of
 * this sidecar waits at the head of the queue for the name, the release
 * tries that caller's acquire in the same step on each instance (a
 * handover): the lock passes in one round trip.
 */
export class ReleaseStep {
  readonly #parts: EngineParts;
  readonly #round: RedlockRound;

  constructor(parts: EngineParts, round: RedlockRound) {
    this.#parts = parts;
    this.#round = round;
  }

  /**
   * True when a majority still held the lease; false when it was no longer
   * held. Unavailable when fewer than a majority answered (the lease may
   * linger on the others until its TTL).
   */
  async release(name: string, lease: LeaseId): Promise<boolean> {
    const { options, offers, leases } = this.#parts;
    const keys = lockKeys(options.keyPrefix, name);
    const announce = { channel: keys.channel, tag: releaseTag(lease.fencingToken), queueKey: keys.queue };
    const release: AnnouncedRelease = { lockKey: keys.lock, secret: lease.secret, announce };
    const offer = offers.take(name);
    const votes = offer
      ? await this.#handOver(name, keys, release, offer, lease)
      : await this.#releaseOnly(name, release);
    leases.delete(name, lease.text, this.#parts.clock.monotonicMs());
    return this.#released(name, votes);
  }

  /** Released once a majority deleted it; the rest delete it all the same. */
  async #releaseOnly(name: string, release: AnnouncedRelease): Promise<LeaseVote[]> {
    const { calls, quorum, watches } = this.#parts;
    const enough = (answers: readonly (Settled<boolean> | undefined)[]): boolean =>
      countAnswers(answers, (deleted) => deleted) >= quorum;
    const votes = toLeaseVotes(
      await calls.fanOutUntil((i) => i.release(release.lockKey, release.secret, release.announce), enough).first,
    );
    if (votes.some((v) => v.kind === "matched")) watches.notifyLocal(name, release.announce.tag);
    return votes;
  }

  #released(name: string, votes: readonly LeaseVote[]): boolean {
    const { instances, quorum } = this.#parts;
    if (judgeRelease(votes)) return true;
    const answered = votes.filter((v) => v.kind !== "failed").length;
    if (answered >= quorum) return false;
    throw new LockError(
      "unavailable",
      `lock ${JSON.stringify(name)}: only ${answered} of ${instances.length} instances answered the release (need ${quorum}); it expires at its TTL elsewhere`,
      { metadata: { lock: name } },
    );
  }

  /**
   * Releases and tries the waiting head's acquire in one step on each
   * instance. The head gets the outcome, judged as any round (majority,
   * validity, fencing, rollback), and always gets one, even if this throws.
   * Returns the release's votes, as soon as a majority released.
   */
  async #handOver(
    name: string,
    keys: LockKeys,
    release: AnnouncedRelease,
    offer: HandoverOffer<Attempt>,
    lease: LeaseId,
  ): Promise<LeaseVote[]> {
    const { calls, clock, quorum, watches } = this.#parts;
    let delivered = false;
    try {
      // The head learns the outcome directly: this release's notices are not news to it.
      watches.markSeen(keys.channel, release.announce.tag);
      const request = this.#headRequest(name, keys, offer, lease);
      const startMs = clock.monotonicMs();
      const { first, all } = calls.fanOutUntil(
        (i) => i.handover(release, request),
        (answers) => countAnswers(answers, (a) => a.released) >= quorum,
      );
      this.#releaseWhereHandoverFailed(all, release);
      const replies = await first;
      const outcome = this.#headOutcome(name, request, replies, all, startMs, offer.signal);
      offer.deliver(outcome);
      delivered = true;
      this.#observe(outcome);
      return toLeaseVotes(replies.map((r): Settled<boolean> => (r.ok ? { ok: true, value: r.value.released } : r)));
    } catch (error) {
      if (!delivered) offer.deliver(Promise.reject(error));
      throw error;
    }
  }

  /**
   * Where a handover failed or its answer was withheld (a circuit open, say),
   * the old lease may still be there, or its grant's SET may still land: a
   * plain release follows, which the guard sends even with the circuit open
   * and retries when the instance answers again.
   */
  #releaseWhereHandoverFailed(all: Promise<readonly Settled<HandoverReply>[]>, release: AnnouncedRelease): void {
    const { calls, instances } = this.#parts;
    void all.then((answers) => {
      const failed = instances.filter((_, i) => answers[i]?.ok !== true);
      if (failed.length > 0) void calls.fanOut(failed, (i) => i.release(release.lockKey, release.secret));
    });
  }

  /** The head's acquire. Only a lease held here passes to its batch ahead of other sidecars' tickets. */
  #headRequest(name: string, keys: LockKeys, offer: HandoverOffer<Attempt>, lease: LeaseId): InstanceAcquire {
    const { clock, leases } = this.#parts;
    const known = leases.get(lease.text);
    const held = known !== undefined && known.name === name && known.endMs > clock.monotonicMs();
    return { ...this.#round.request(keys, offer.ttlMs, offer.ticket(), offer.owner), overtake: offer.overtake && held };
  }

  /** The head's fate is known early when a majority agrees on it; otherwise it waits for every answer. */
  #headOutcome(
    name: string,
    request: InstanceAcquire,
    replies: readonly Settled<HandoverReply>[],
    all: Promise<readonly Settled<HandoverReply>[]>,
    startMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    const { quorum } = this.#parts;
    const agreeing = Math.max(
      countAnswers(replies, (a) => a.acquire.granted),
      countAnswers(replies, (a) => !a.acquire.granted),
    );
    const decided = agreeing >= quorum ? Promise.resolve(replies) : all;
    return decided.then((answers) =>
      this.#round.settle(name, request, acquireReplies(answers), all.then(acquireReplies), startMs, signal),
    );
  }

  #observe(outcome: Promise<Attempt>): void {
    const { observer } = this.#parts;
    outcome.then(
      (attempt) => observer?.handover(attempt.kind === "granted" ? "granted" : "not_granted"),
      () => observer?.handover("not_granted"),
    );
  }
}

/** Every release here is announced, so waiters elsewhere need not wait out the fallback delay. */
type AnnouncedRelease = InstanceRelease & { announce: Announcement };

/** Names a release in announcements by the lease's fencing token: unique per grant, not secret. */
function releaseTag(fencingToken: bigint): string {
  return fencingToken.toString();
}

function acquireReplies(answers: readonly Settled<HandoverReply>[]): Settled<AcquireReply>[] {
  return answers.map((r) => (r.ok ? { ok: true, value: r.value.acquire } : r));
}

function toLeaseVotes(replies: readonly Settled<boolean>[]): LeaseVote[] {
  return replies.map((r) =>
    !r.ok ? { kind: "failed", error: r.error } : r.value ? { kind: "matched" } : { kind: "missing" },
  );
}
