/**
 * A witness's scan stops once nobody waits for its answer (docs/design.md,
 * "Restarted instances", The scan). A scan that lost the race against the
 * scan timeout went on asking its instance for every page, and so did one
 * still running when the sidecar stopped. The witnesses here are fakes that
 * count the pages they were asked for and check the signal between pages,
 * as RedisInstance does (test/integration/witness-scan-abort.test.ts counts
 * real SCANs).
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_OPTIONS } from "../../src/config/options.ts";
import { MemoryInstance } from "../../src/instances/memory-instance.ts";
import { RestartWitnesses, type Witness } from "../../src/instances/restart-witnesses.ts";
import { SidecarMetrics } from "../../src/metrics/sidecar-metrics.ts";
import { guardInstances } from "../../src/sidecar-instances.ts";
import { eventually } from "../support/sidecar-fixture.ts";
import { FakeInstance } from "./support/fake-instance.ts";
import { ManualClock } from "./support/manual-clock.ts";

const PAGE_MS = 5;
const PAGES = 400; // 2 s of pages: far longer than any scan timeout here

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A witness whose scan takes PAGES pages of PAGE_MS each, checking the signal before each page. */
class PagedWitness implements Witness {
  readonly name: string;
  pages = 0;
  #endless = false;
  #failing = false;

  constructor(name: string) {
    this.name = name;
  }

  /** Its scan finds a key without expiry at once. */
  endless(): this {
    this.#endless = true;
    return this;
  }

  /** Its scan fails at once (the instance does not answer). */
  failing(): this {
    this.#failing = true;
    return this;
  }

  canWitness(): boolean {
    return true;
  }

  connectionEpoch(): number {
    return 0;
  }

  async longestTtlMs(_pattern: string, signal?: AbortSignal): Promise<number> {
    if (this.#failing) throw new Error("no answer");
    if (this.#endless) return Number.POSITIVE_INFINITY;
    for (let page = 0; page < PAGES; page++) {
      signal?.throwIfAborted();
      this.pages++;
      await pause(PAGE_MS);
    }
    return 0;
  }
}

/** Witnesses for instance "r" among three, with a 1 ms instance timeout (the scan starts ~1 s after the restart). */
function witnessesOf(members: Witness[], scanTimeoutMs: number): RestartWitnesses {
  const witnesses = new RestartWitnesses(
    { count: 3, quorum: 2, lockPattern: "w:lock:*", instanceTimeoutMs: 1, scanTimeoutMs },
    new ManualClock(),
  );
  for (const member of members) witnesses.register(member);
  return witnesses;
}

/** A fake that keeps the signal each scan was given. */
class SignalledFake extends FakeInstance {
  readonly signals: (AbortSignal | undefined)[] = [];

  override longestTtlMs(pattern: string, signal?: AbortSignal): Promise<number> {
    this.signals.push(signal);
    return super.longestTtlMs(pattern);
  }
}

const stoppers: AbortController[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stopper of stoppers.splice(0)) stopper.abort();
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe("a witness's scan, once its answer no longer counts", () => {
  it("asks for no more pages after losing the race against the scan timeout", async () => {
    const slow = [new PagedWitness("w1"), new PagedWitness("w2")];
    const bound = await witnessesOf(slow, 50).boundFor("r");
    expect(bound.kind).toBe("unknown");
    const atGiveUp = slow.map((w) => w.pages);
    expect(Math.min(...atGiveUp)).toBeGreaterThan(0);
    await pause(20 * PAGE_MS);
    // A page already asked for may finish; no new one is asked for.
    slow.forEach((w, i) => expect(w.pages - atGiveUp[i]!, w.name).toBeLessThanOrEqual(1));
  });

  it("asks for no more pages once the sidecar stops", async () => {
    const slow = [new PagedWitness("w1"), new PagedWitness("w2")];
    const stop = new AbortController();
    stoppers.push(stop);
    const asked = witnessesOf(slow, 10_000).boundFor("r", stop.signal);
    await eventually(() => slow.every((w) => w.pages > 0), 3000, "scans under way");
    stop.abort();
    const atStop = slow.map((w) => w.pages);
    expect(await asked).toEqual({ kind: "unknown", reason: "stopped" });
    await pause(20 * PAGE_MS);
    slow.forEach((w, i) => expect(w.pages - atStop[i]!, w.name).toBeLessThanOrEqual(1));
  });
});

describe("the sidecar's wiring (guardInstances)", () => {
  it("hands each witness's instance the signal its scan stops on", async () => {
    const clock = new ManualClock({ monotonicMs: 10_000_000 });
    const fakes = ["r", "w1", "w2"].map((name) => new SignalledFake(name, clock));
    const options = { ...DEFAULT_OPTIONS, keyPrefix: "w:", restartQuarantine: "on" as const };
    const guarded = guardInstances(fakes, options, new SidecarMetrics(), clock, pino({ level: "silent" }));
    closers.push(() => Promise.all(guarded.map((g) => g.close())));
    for (const g of guarded) await g.waitUntilConnected(0);
    fakes[0]!.restart();
    await guarded[0]!.waitUntilConnected(0);
    await eventually(() => fakes[1]!.signals.length > 0 && fakes[2]!.signals.length > 0, 3000, "scans");
    for (const fake of fakes.slice(1)) expect(fake.signals[0]).toBeInstanceOf(AbortSignal);
  });
});

describe("a witness holding a lock key without expiry", () => {
  it("makes the bound unbounded (never asked again), even when the other witness did not answer", async () => {
    const bound = await witnessesOf(
      [new PagedWitness("w1").endless(), new PagedWitness("w2").failing()],
      1000,
    ).boundFor("r");
    expect(bound.kind).toBe("unbounded");
    if (bound.kind === "unbounded") expect(bound.reason).toContain("w1 holds a key matching w:lock:* without expiry");
  });
});

describe("MemoryInstance.longestTtlMs", () => {
  it("reads nothing once its caller gave up", async () => {
    const instance = new MemoryInstance("m", new ManualClock());
    const gaveUp = new AbortController();
    gaveUp.abort();
    await expect(instance.longestTtlMs("w:lock:*", gaveUp.signal)).rejects.toThrow();
    await expect(instance.longestTtlMs("w:lock:*")).resolves.toBe(0);
    await instance.close();
  });
});
