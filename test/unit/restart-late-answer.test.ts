/**
 * The restart witnesses wait out every answer a sidecar may still count
 * (docs/design.md, "Restarted instances", When). Sidecar B's event loop is
 * held 500 ms while its grant's SET reaches witness w1 400 ms after the
 * start: B still counts it (under the answer limit). Instance r, which
 * voted for B, restarts empty and sidecar A notices at once. A's scan must
 * come after w1 has B's key, so r stays out until B's lease ends and A
 * cannot win the lock with r and w2. With the old wait (2 x
 * LOCK_INSTANCE_TIMEOUT) the scan ran first: two holders.
 *
 * Both sidecars run in this process with in-process stores: the stall is a
 * busy wait, which also holds A (it only delays A's timers; the order of
 * events is what it would be with B alone stalled).
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_OPTIONS, type SidecarOptions } from "../../src/config/options.ts";
import { LockEngine } from "../../src/engine/lock-engine.ts";
import { GuardedInstance } from "../../src/instances/guarded-instance.ts";
import { InstanceDecorator } from "../../src/instances/instance-decorator.ts";
import type {
  AcquireReply,
  Announcement,
  ExtendItem,
  HandoverReply,
  InstanceAcquire,
  InstanceIdentity,
  InstanceRelease,
  LockInstance,
  LockKeys,
  LockReading,
} from "../../src/instances/lock-instance.ts";
import { MemoryInstance } from "../../src/instances/memory-instance.ts";
import { SidecarMetrics } from "../../src/metrics/sidecar-metrics.ts";
import { guardInstances } from "../../src/sidecar-instances.ts";
import { systemClock } from "../../src/util/clock.ts";
import { eventually } from "../support/sidecar-fixture.ts";

const PREFIX = "late:";

/** A server that can restart empty: a new store, a new run id, a new connection. */
class Restartable implements LockInstance {
  readonly name: string;
  #store: MemoryInstance;
  #run = 0;
  readonly #startedMs: number[] = [performance.now() - 3_600_000];
  constructor(name: string) {
    this.name = name;
    this.#store = new MemoryInstance(name, systemClock);
  }
  restart(): void {
    void this.#store.close();
    this.#store = new MemoryInstance(this.name, systemClock);
    this.#run++;
    this.#startedMs.push(performance.now());
  }
  acquire(r: InstanceAcquire): Promise<AcquireReply> {
    return this.#store.acquire(r);
  }
  extend(items: readonly ExtendItem[], adopt?: boolean): Promise<boolean[]> {
    return this.#store.extend(items, adopt);
  }
  release(k: string, s: string, a?: Announcement): Promise<boolean> {
    return this.#store.release(k, s, a);
  }
  handover(r: InstanceRelease, a: InstanceAcquire): Promise<HandoverReply> {
    return this.#store.handover(r, a);
  }
  withdrawTicket(q: string, t: string): Promise<void> {
    return this.#store.withdrawTicket(q, t);
  }
  raiseFence(f: string, t: bigint, r: number): Promise<bigint> {
    return this.#store.raiseFence(f, t, r);
  }
  watchReleases(c: string, on: (tag: string) => void): Promise<() => void> {
    return this.#store.watchReleases(c, on);
  }
  async identify(): Promise<InstanceIdentity> {
    return {
      runId: `${this.name}#${this.#run}`,
      uptimeMs: Math.floor((performance.now() - this.#startedMs.at(-1)!) / 1000) * 1000,
    };
  }
  connectionEpoch(): number {
    return this.#run;
  }
  async waitUntilConnected(): Promise<void> {}
  async ping(): Promise<void> {}
  longestTtlMs(p: string): Promise<number> {
    return this.#store.longestTtlMs(p);
  }
  readLock(k: LockKeys): Promise<LockReading> {
    return this.#store.readLock(k);
  }
  async close(): Promise<void> {
    await this.#store.close();
  }
}

/** Sidecar B's path to one instance: its acquires arrive late, or never. */
class Path extends InstanceDecorator {
  readonly #mode: { delayMs: number } | "lost";
  constructor(inner: LockInstance, mode: { delayMs: number } | "lost") {
    super(inner);
    this.#mode = mode;
  }
  protected override around<T>(call: () => Promise<T>): Promise<T> {
    return call();
  }
  override acquire(r: InstanceAcquire): Promise<AcquireReply> {
    if (this.#mode === "lost") return Promise.reject(new Error("packet lost"));
    const { delayMs } = this.#mode;
    return new Promise((resolve) => setTimeout(resolve, delayMs)).then(() => this.inner.acquire(r));
  }
}

const OPTIONS: SidecarOptions = {
  ...DEFAULT_OPTIONS,
  keyPrefix: PREFIX,
  instanceTimeoutMs: 50,
  minTtlMs: 100,
  maxTtlMs: 60_000,
  restartQuarantine: "on",
};

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

function sidecarOver(raw: LockInstance[]) {
  const guarded = guardInstances(raw, OPTIONS, new SidecarMetrics(), systemClock, pino({ level: "silent" }));
  const engine = new LockEngine(guarded, OPTIONS, { clock: systemClock });
  closers.push(async () => void (await Promise.all(guarded.map((g) => g.close().catch(() => undefined)))));
  return { guarded, engine };
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* the event loop is held: a GC pause, CPU throttling */
  }
}

describe("a grant counted late, and a restart noticed meanwhile", () => {
  it("the restarted instance stays out until the late-counted lease ends: one holder", async () => {
    const [r, w1, w2] = ["r", "w1", "w2"].map((n) => new Restartable(n)) as [Restartable, Restartable, Restartable];
    const a = sidecarOver([r, w1, w2]);
    // B: its acquire to w1 arrives 400 ms late, its acquire to w2 is lost.
    const b = sidecarOver([r, new Path(w1, { delayMs: 400 }), new Path(w2, "lost")]);
    for (const g of [...a.guarded, ...b.guarded]) await g.waitUntilConnected(0);

    const startB = performance.now();
    const grantB = b.engine.acquire("job", 10_000, 0);
    await new Promise((resolve) => setTimeout(resolve, 5)); // r has granted B (its answer is counted)

    // r restarts empty; A notices at once and waits 2 x 50 ms before scanning w1 and w2.
    r.restart();
    await a.guarded[0]!.waitUntilConnected(0);
    const guardR = GuardedInstance.find(a.guarded[0]!, GuardedInstance)!;
    expect(guardR.quarantineBasis()).toBe("pending");

    // B's event loop is held for 500 ms: its 50 ms answer timer fires late, after w1's answer came in.
    busyWait(500);

    const first = await grantB;
    expect(first.acquired).toBe(true); // counted although w1's SET landed ~400 ms after the start
    const firstEnd = first.acquired ? first.lease.endMs : 0;
    expect(firstEnd - startB).toBeGreaterThan(9_000);

    // A scanned after w1 had B's key: r sits out until that lease's end.
    await eventually(() => guardR.quarantineBasis() === "witnessed", 3000, "A's scan");
    expect(guardR.state()).toBe("quarantined");
    expect(guardR.quarantineRemainingMs()).toBeGreaterThan(firstEnd - performance.now());

    const second = await a.engine.acquire("job", 10_000, 0);
    expect(performance.now()).toBeLessThan(firstEnd);
    expect(second.acquired).toBe(false);
    const keys = { lock: `${PREFIX}lock:job`, fence: `${PREFIX}fence:job`, queue: `${PREFIX}queue:job`, channel: "" };
    expect((await w1.readLock(keys)).ttlMs).toBeGreaterThan(9_000);
  });

  it("control: without the stall, B's late w1 answer times out and B is refused", async () => {
    const [r, w1, w2] = ["r", "w1", "w2"].map((n) => new Restartable(n)) as [Restartable, Restartable, Restartable];
    const b = sidecarOver([r, new Path(w1, { delayMs: 400 }), new Path(w2, "lost")]);
    for (const g of b.guarded) await g.waitUntilConnected(0);
    const first = await b.engine.acquire("job", 10_000, 0).catch((e: unknown) => e);
    expect((first as { acquired?: boolean }).acquired ?? false).toBe(false);
  });
});
