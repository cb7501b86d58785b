import type { Logger } from "../log/logger.ts";
import type { Clock } from "../util/clock.ts";
import { GuardedInstance, VoteWithheldError, type GuardState } from "./guarded-instance.ts";
import { InstanceDecorator } from "./instance-decorator.ts";
import type { EvictionPolicy, LockInstance } from "./lock-instance.ts";

/** How often the policy is read again while the instance answers: an operator may change it at run time. */
export const EVICTION_RECHECK_MS = 10_000;

export interface EvictionGuardOptions {
  /** LOCK_ALLOW_EVICTION: count the votes of an instance that may evict. */
  allowEviction: boolean;
  /** A reading older than this is taken again on the next call. */
  recheckMs: number;
  /** Told each time the instance refuses every way of reading its policy. */
  onUnreadable?: () => void;
}

/** What the guards do with an instance's votes: "evicting" when this one withholds them. */
export type EvictionGuardState = GuardState | "evicting";

/**
 * Holds out of every quorum an instance that may evict keys: a Redis whose
 * maxmemory-policy is not noeviction, or a Dragonfly in cache mode, can drop
 * a held lock's key when memory runs short, and then grant the lock again.
 * The policy is read on each new connection and again every `recheckMs`.
 * Answers through a connection whose policy is not read yet are withheld.
 * Calls still reach the instance; only their answers do not count, so the
 * engine rolls back what they wrote, as for any failed vote.
 * An instance that refuses to tell (ACL, renamed CONFIG) is warned about
 * once and counts: we cannot know.
 */
export class EvictionGuard extends InstanceDecorator {
  readonly #read: () => Promise<EvictionPolicy>;
  readonly #options: EvictionGuardOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #policy: EvictionPolicy | undefined;
  #readEpoch = -1;
  #readAtMs = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | undefined;
  #warnedUnreadable = false;
  #closed = false;

  /** `read` is the undecorated instance's `evictionPolicy`: decorators do not pass it on. */
  constructor(
    inner: LockInstance,
    read: () => Promise<EvictionPolicy>,
    options: EvictionGuardOptions,
    clock: Clock,
    logger: Logger,
  ) {
    super(inner);
    this.#read = read;
    this.#options = options;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Whether the instance may evict keys; undefined before the first reading, or when it cannot be read. */
  mayEvict(): boolean | undefined {
    return this.#policy?.known ? this.#policy.mayEvict : undefined;
  }

  /** The restart and circuit guard inside, if any (status reads its quarantine). */
  get guarded(): GuardedInstance | undefined {
    return this.inner instanceof GuardedInstance ? this.inner : undefined;
  }

  /** "evicting" while its votes are withheld here, else what the restart and circuit guard says. */
  state(): EvictionGuardState {
    if (this.#heldOut()) return "evicting";
    const inner = this.inner instanceof GuardedInstance ? this.inner.state() : "ok";
    if (inner === "ok" && !this.#options.allowEviction && this.#readEpoch !== this.inner.connectionEpoch())
      return "unverified";
    return inner;
  }

  override async waitUntilConnected(timeoutMs: number): Promise<void> {
    await this.inner.waitUntilConnected(timeoutMs);
    await this.#readPolicy().catch(() => undefined);
  }

  override async close(): Promise<void> {
    this.#closed = true;
    await this.inner.close();
  }

  protected override async around<T>(call: () => Promise<T>): Promise<T> {
    // Started before the call, so a new connection's reading races its first answer.
    if (
      this.#readEpoch !== this.inner.connectionEpoch() ||
      this.#clock.monotonicMs() - this.#readAtMs >= this.#options.recheckMs
    ) {
      void this.#readPolicy().catch(() => undefined);
    }
    const result = await call();
    if (this.#options.allowEviction) return result;
    // The server behind a new connection may have restarted with another policy.
    if (this.#readEpoch !== this.inner.connectionEpoch())
      throw new VoteWithheldError(`${this.name}: new connection, eviction policy not yet read`);
    if (this.#heldOut())
      throw new VoteWithheldError(`${this.name}: may evict keys (${this.#describe()}); its votes do not count`);
    return result;
  }

  #heldOut(): boolean {
    return !this.#options.allowEviction && this.#policy?.known === true && this.#policy.mayEvict;
  }

  #describe(): string {
    return this.#policy?.known ? `${this.#policy.setting} ${this.#policy.value}` : "unknown";
  }

  #readPolicy(): Promise<void> {
    this.#reading ??= (async () => {
      try {
        const epoch = this.inner.connectionEpoch();
        const policy = await this.#read();
        if (this.#closed) return;
        this.#report(policy);
        this.#policy = policy;
        this.#readEpoch = epoch;
        this.#readAtMs = this.#clock.monotonicMs();
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  /** Logs each change that matters: evicting, evicting no more, cannot tell (once). */
  #report(policy: EvictionPolicy): void {
    const was = this.#policy;
    if (!policy.known) {
      this.#options.onUnreadable?.();
      if (this.#warnedUnreadable) return;
      this.#warnedUnreadable = true;
      this.#logger.warn(
        { instance: this.name, reason: policy.reason },
        `cannot read whether ${this.name} may evict keys, so its votes count unchecked: ` +
          "allow the sidecar's user CONFIG GET or INFO, and make sure maxmemory-policy is noeviction",
      );
      return;
    }
    const fields = { instance: this.name, setting: policy.setting, value: policy.value };
    if (policy.mayEvict) {
      if (was?.known && was.mayEvict && was.setting === policy.setting && was.value === policy.value) return;
      const what = `instance may evict keys (${policy.setting} ${policy.value}), dropping held locks`;
      if (this.#options.allowEviction) {
        this.#logger.warn(
          fields,
          `${what}; its votes count because LOCK_ALLOW_EVICTION=true: a lock whose key it evicts can be granted twice`,
        );
      } else {
        this.#logger.warn(
          fields,
          `${what}: its votes do not count. ${fixOf(this.name, policy.setting)}, or accept the risk with LOCK_ALLOW_EVICTION=true`,
        );
      }
    } else if (was?.known && was.mayEvict) {
      this.#logger.info(fields, "instance evicts no more: its votes count again");
    }
  }
}

function fixOf(instance: string, setting: string): string {
  if (setting === "cache_mode") return `Restart ${instance} without --cache_mode`;
  return `Set maxmemory-policy noeviction on ${instance}`;
}
