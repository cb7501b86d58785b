import type {
  AcquireReply,
  Announcement,
  ExtendItem,
  HandoverReply,
  InstanceAcquire,
  InstanceIdentity,
  InstanceRelease,
  LockInstance,
  LockHolder,
  LockKeys,
  LockReading,
} from "../../../src/instances/lock-instance.ts";
import { LocalChannels } from "../../../src/instances/local-channels.ts";
import { LockStore } from "../../../src/instances/lock-store.ts";
import { holderOfValue } from "../../../src/instances/script-args.ts";
import type { ManualClock } from "./manual-clock.ts";

export type Method =
  | "acquire"
  | "extend"
  | "longestTtlMs"
  | "readLock"
  | "release"
  | "handover"
  | "withdrawTicket"
  | "raiseFence"
  | "watchReleases"
  | "identify"
  | "waitUntilConnected"
  | "ping"
  | "close";

/** How a call to the fake is answered. */
export type Behaviour =
  /** Apply to the store and answer. */
  | "answer"
  /** Throw without touching the store: the command never arrived. */
  | "fail"
  /** Apply to the store, then throw: the write landed but the reply was lost. */
  | "lose-reply"
  /** Never answer and never apply: only the engine's per-instance timeout ends the call. */
  | "hang"
  /** Hold the call until `openGate()`, then apply and answer. */
  | "gate"
  /** Apply at once, but hold the answer until `openGate()` (a slow reply). */
  | "gate-reply";

export interface Call {
  method: Method;
  args: readonly unknown[];
  /** Monotonic clock when the call reached the fake. */
  atMs: number;
}

export class InjectedFailure extends Error {
  override readonly name = "InjectedFailure";
}

export interface FakeInstanceOptions {
  /**
   * First value of a missing fencing counter. Default: the wall clock in
   * microseconds, as the Lua script and MemoryInstance do.
   */
  fenceStart?: bigint;
  /**
   * Guard against a runaway retry loop that never yields to timers (it would
   * freeze the test process): past this many calls, every call hangs.
   */
  callLimit?: number;
}

/**
 * An instance for engine tests: the Lua scripts' semantics (LockStore, as
 * MemoryInstance serves them) behind answers that can be made to fail,
 * hang, lose their reply or wait for the test. It records every call.
 */
export class FakeInstance implements LockInstance {
  readonly name: string;
  readonly calls: Call[] = [];
  /**
   * Simulated latency: each call advances the shared clock by this much
   * before it is applied and answered. Calls of one fan-out are started one
   * after another, so their latencies add up.
   */
  latencyMs = 0;
  /** Runs as each call arrives, before its behaviour applies. */
  onCall: ((call: Call) => void) | undefined;
  /** Whether identify() reports a run id (Dragonfly builds may report only their uptime). */
  reportsRunId = true;
  /** When the server started (monotonic): its uptime counts from here; `restart()` resets it. */
  startedAtMs: number;

  readonly #clock: ManualClock;
  readonly #callLimit: number;
  /** The scripts' semantics, shared with MemoryInstance. */
  readonly #store: LockStore;
  readonly #channels = new LocalChannels();
  readonly #behaviours = new Map<Method, Behaviour>();
  #defaultBehaviour: Behaviour = "answer";
  #restarts = 0;
  #reconnects = 0;
  #gated: (() => void)[] = [];

  constructor(name: string, clock: ManualClock, options: FakeInstanceOptions = {}) {
    this.name = name;
    this.#clock = clock;
    this.#store = new LockStore(clock, { fenceStart: options.fenceStart });
    this.#callLimit = options.callLimit ?? 20_000;
    this.startedAtMs = clock.monotonicMs();
  }

  /** Sets the behaviour of the given methods, or of every method when none are given. */
  behave(behaviour: Behaviour, ...methods: Method[]): this {
    if (methods.length === 0) {
      this.#defaultBehaviour = behaviour;
      this.#behaviours.clear();
    } else {
      for (const method of methods) this.#behaviours.set(method, behaviour);
    }
    return this;
  }

  behaviourOf(method: Method): Behaviour {
    return this.#behaviours.get(method) ?? this.#defaultBehaviour;
  }

  callsOf(method: Method): Call[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** How many calls are waiting at the gate. */
  get gated(): number {
    return this.#gated.length;
  }

  /** Applies and answers every call held by the gate, in arrival order. */
  openGate(): void {
    const held = this.#gated;
    this.#gated = [];
    for (const run of held) run();
  }

  // --- LockInstance -------------------------------------------------------

  acquire(r: InstanceAcquire): Promise<AcquireReply> {
    return this.#call("acquire", [r], () => this.#store.acquire(r));
  }

  /** Release and acquire in one atomic step, announced only when the lock is left free. */
  handover(release: InstanceRelease, r: InstanceAcquire): Promise<HandoverReply> {
    return this.#call("handover", [release, r], (): HandoverReply => {
      const { released, acquire, announce } = this.#store.handover(release, r);
      if (announce && release.announce) this.#announce(release.announce);
      return { released, acquire };
    });
  }

  /** One call per batch of renewals: answers per item. With `adopt`, a missing key is created. */
  extend(items: readonly ExtendItem[], adopt = false): Promise<boolean[]> {
    return this.#call("extend", [items, adopt], () => this.#store.extend(items, adopt));
  }

  release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    return this.#call("release", [lockKey, secret, announce], () => {
      const released = this.#store.release(lockKey, secret);
      if (released && announce) this.#announce(announce);
      return released;
    });
  }

  /** A release notice as the scripts publish it: the tag and the oldest live ticket. */
  #announce(announce: Announcement): void {
    this.publish(announce.channel, this.#store.notice(announce));
  }

  withdrawTicket(queueKey: string, ticket: string): Promise<void> {
    return this.#call("withdrawTicket", [queueKey, ticket], () => this.#store.withdrawTicket(queueKey, ticket));
  }

  raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    return this.#call("raiseFence", [fenceKey, token, fenceRetentionMs], () =>
      this.#store.raiseFence(fenceKey, token, fenceRetentionMs),
    );
  }

  watchReleases(channel: string, onRelease: (tag: string) => void): Promise<() => void> {
    return this.#call("watchReleases", [channel], () => this.#channels.subscribe(channel, onRelease));
  }

  /** The server's run id (changes with `restart()`; none with `reportsRunId` false) and uptime. */
  identify(): Promise<InstanceIdentity> {
    return this.#call("identify", [], () => ({
      runId: this.reportsRunId ? `${this.name}-run-${this.#restarts}` : undefined,
      uptimeMs: Math.floor((this.#clock.monotonicMs() - this.startedAtMs) / 1000) * 1000,
    }));
  }

  /** Bumped by `restart()` and `reconnect()`. Not recorded as a call. */
  connectionEpoch(): number {
    return this.#restarts + this.#reconnects;
  }

  waitUntilConnected(timeoutMs: number): Promise<void> {
    return this.#call("waitUntilConnected", [timeoutMs], () => undefined);
  }

  ping(): Promise<void> {
    return this.#call("ping", [], () => undefined);
  }

  longestTtlMs(pattern: string): Promise<number> {
    return this.#call("longestTtlMs", [pattern], () => this.#store.longestTtlMs(pattern));
  }

  readLock(keys: LockKeys): Promise<LockReading> {
    return this.#call("readLock", [keys], () => this.#store.readLock(keys));
  }

  close(): Promise<void> {
    return this.#call("close", [], () => undefined);
  }

  // --- Store, for arranging and inspecting tests ----------------------------

  /** A restart without persistence: every key, ticket and subscription is gone; new run id and connection. */
  restart(): void {
    this.#store.clear();
    this.#channels.clear();
    this.#restarts++;
    this.startedAtMs = this.#clock.monotonicMs();
  }

  /** A new connection to the same server run (a network blip): nothing is lost. */
  reconnect(): void {
    this.#reconnects++;
  }

  /** The value of a live key; for a lock key, the holder's secret without the holder recorded after it. */
  valueAt(key: string): string | undefined {
    return this.#store.get(key)?.value.split(" ")[0];
  }

  /** The holder recorded with a live lock key, if any. */
  holderAt(key: string): LockHolder | undefined {
    const value = this.#store.get(key)?.value;
    return value === undefined ? undefined : holderOfValue(value);
  }

  /** Remaining TTL of a live key, -1 without expiry, undefined when absent. */
  ttlOf(key: string): number | undefined {
    const entry = this.#store.get(key);
    if (!entry) return undefined;
    return entry.expiresAtMs === undefined ? -1 : entry.expiresAtMs - this.#clock.monotonicMs();
  }

  fenceOf(fenceKey: string): bigint | undefined {
    const value = this.valueAt(fenceKey);
    return value === undefined ? undefined : BigInt(value);
  }

  /** Writes a key directly (another holder, a seeded counter); ttl undefined: no expiry. */
  put(key: string, value: string, ttlMs: number | undefined): void {
    this.#store.put(key, value, ttlMs);
  }

  /** Deletes a key directly (an eviction, a failover that lost it). */
  drop(key: string): void {
    this.#store.drop(key);
  }

  /** Announces a release on `channel` to its watchers, as PUBLISH would (asynchronously). */
  publish(channel: string, tag: string): void {
    this.#channels.publish(channel, tag);
  }

  /** How many watchers are subscribed to `channel`. */
  watcherCount(channel: string): number {
    return this.#channels.subscribers(channel);
  }

  /** Live waiting tickets of a queue, oldest (smallest string) first. */
  ticketsOf(queueKey: string): string[] {
    return this.#store.tickets(queueKey);
  }

  /** Live keys, expired ones dropped first. */
  keys(): string[] {
    return this.#store.keys();
  }

  #call<T>(method: Method, args: readonly unknown[], apply: () => T): Promise<T> {
    const call: Call = { method, args, atMs: this.#clock.monotonicMs() };
    this.calls.push(call);
    if (this.calls.length > this.#callLimit) return new Promise<T>(() => undefined);
    this.onCall?.(call);
    switch (this.behaviourOf(method)) {
      case "answer":
        return Promise.resolve(this.#apply(apply));
      case "fail":
        return Promise.reject(new InjectedFailure(`${this.name}: ${method} failed`));
      case "lose-reply":
        this.#apply(apply);
        return Promise.reject(new InjectedFailure(`${this.name}: ${method} reply lost`));
      case "hang":
        return new Promise<T>(() => undefined);
      case "gate":
        return new Promise<T>((resolve) => this.#gated.push(() => resolve(this.#apply(apply))));
      case "gate-reply": {
        const result = this.#apply(apply);
        return new Promise<T>((resolve) => this.#gated.push(() => resolve(result)));
      }
    }
  }

  #apply<T>(apply: () => T): T {
    if (this.latencyMs > 0) this.#clock.advance(this.latencyMs);
    return apply();
  }
}

/** `count` fakes named i0, i1, ... on one clock. */
export function fakeInstances(count: number, clock: ManualClock, options: FakeInstanceOptions = {}): FakeInstance[] {
  return Array.from({ length: count }, (_, i) => new FakeInstance(`i${i}`, clock, options));
}
