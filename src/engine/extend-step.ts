import { LockError } from "../errors/lock-error.ts";
import { judgeExtend } from "../redlock/votes.ts";
import { throwIfAborted } from "../util/abort.ts";
import type { EngineParts } from "./engine-parts.ts";
import { lockKeys } from "../instances/keys.ts";
import type { Lease } from "./lease.ts";
import type { LeaseId } from "./lease-id.ts";
import type { RedlockRound } from "./redlock-round.ts";
import { RenewalBatcher } from "./renewal-batcher.ts";

/**
 * Extend: renew a held lease for `ttlMs` from now, batched with the other
 * renewals of the same moment. `not-held` when it is gone.
 */
export class ExtendStep {
  readonly #parts: EngineParts;
  readonly #round: RedlockRound;
  readonly #renewals: RenewalBatcher;

  constructor(parts: EngineParts, round: RedlockRound) {
    this.#parts = parts;
    this.#round = round;
    this.#renewals = new RenewalBatcher(parts.instances, parts.options.instanceTimeoutMs, parts.clock);
  }

  async extend(name: string, lease: LeaseId, ttlMs: number, signal?: AbortSignal): Promise<Lease> {
    const { clock, instances, quorum, leases, options } = this.#parts;
    const known = leases.get(lease.text);
    const keys = lockKeys(options.keyPrefix, name);
    throwIfAborted(signal);
    if (known && (known.name !== name || known.endMs <= clock.monotonicMs())) {
      // Past the end it knows, this sidecar refuses to renew the lease. Its
      // keys are left to run out: another sidecar may have renewed it and
      // told its owner a later end (docs/design.md, "A lease's told end").
      leases.expire(name, lease.text, clock.monotonicMs());
      throw notHeld(name);
    }
    const { votes, startMs, elapsedMs } = await this.#renewals.extend({
      lockKey: keys.lock,
      secret: lease.secret,
      ttlMs,
    });
    const verdict = judgeExtend(votes, { startMs, elapsedMs, ttlMs });
    switch (verdict.kind) {
      case "extended":
        return this.#renewed(name, lease, known, ttlMs, verdict.endMs);
      case "lost":
        void this.#cleanUp(name, lease);
        throw notHeld(name);
      case "unavailable":
        throw new LockError(
          "unavailable",
          `lock ${JSON.stringify(name)}: only ${verdict.answered} of ${instances.length} instances answered (need ${quorum}); the lease was not renewed`,
          { metadata: { lock: name } },
        );
      case "too-slow":
        throw new LockError(
          "unavailable",
          `lock ${JSON.stringify(name)}: instances took ${Math.round(verdict.elapsedMs)} ms to renew, leaving no validity; the lease was not renewed`,
          { metadata: { lock: name } },
        );
    }
  }

  /** A majority renewed the lease until `endMs`: store it and say so. */
  #renewed(name: string, lease: LeaseId, known: Lease | undefined, ttlMs: number, endMs: number): Lease {
    const { clock, leases } = this.#parts;
    // Released or found lost here while the renewal was out (its keys are
    // gone or going): storing it again would revive a lease nobody holds.
    const current = leases.get(lease.text);
    if (known && (current === undefined || leases.isLost(lease.text))) throw notHeld(name);
    // A known lease keeps its own id and token, whatever the caller's copy
    // says. Its end never moves earlier: the keys kept the longer TTL of an
    // earlier renewal (EXTEND never shortens them), and its owner was told
    // it. Read again now: a renewal that answered while this one was out
    // (the same batch, say) may have moved it later than `known` says.
    const base = current?.name === name ? current : known;
    const renewed: Lease = base
      ? {
          ...base,
          ttlMs: Math.max(base.ttlMs, known?.ttlMs ?? 0, ttlMs),
          endMs: Math.max(base.endMs, known?.endMs ?? 0, endMs),
        }
      : { name, leaseId: lease.text, id: lease, fencingToken: lease.fencingToken, ttlMs, endMs };
    leases.put(renewed, clock.monotonicMs());
    return renewed;
  }

  /** The lease is lost: refused here from now on, and its keys deleted wherever they are left. */
  async #cleanUp(name: string, lease: LeaseId): Promise<void> {
    const { clock, leases, options } = this.#parts;
    leases.expire(name, lease.text, clock.monotonicMs());
    await this.#round.rollBack(lockKeys(options.keyPrefix, name), lease.secret, true);
  }
}

function notHeld(name: string): LockError {
  return new LockError(
    "not-held",
    `lock ${JSON.stringify(name)}: the lease is no longer held (expired, released or taken over)`,
    { metadata: { lock: name } },
  );
}
