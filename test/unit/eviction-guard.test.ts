import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { EvictionGuard } from "../../src/instances/eviction-guard.ts";
import { VoteWithheldError } from "../../src/instances/guarded-instance.ts";
import type { EvictionPolicy } from "../../src/instances/lock-instance.ts";
import { evictionFromInfo } from "../../src/instances/redis-instance.ts";
import { FakeInstance } from "./support/fake-instance.ts";
import { ManualClock } from "./support/manual-clock.ts";

const RECHECK_MS = 10_000;
const NOEVICTION: EvictionPolicy = { known: true, setting: "maxmemory-policy", value: "noeviction", mayEvict: false };
const ALLKEYS_LRU: EvictionPolicy = { known: true, setting: "maxmemory-policy", value: "allkeys-lru", mayEvict: true };
const REFUSED: EvictionPolicy = {
  known: false,
  reason: "CONFIG GET is not permitted; INFO memory is not permitted either",
};

/** A guard over a fake whose policy the test sets; `reads` counts readings. */
function setup(initial: EvictionPolicy, allowEviction = false) {
  const clock = new ManualClock();
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  const fake = new FakeInstance("redis://127.0.0.1:6379", clock);
  const state = { policy: initial, reads: 0, unreadable: 0 };
  const read = async (): Promise<EvictionPolicy> => {
    state.reads++;
    return state.policy;
  };
  const guard = new EvictionGuard(
    fake,
    read,
    { allowEviction, recheckMs: RECHECK_MS, onUnreadable: () => state.unreadable++ },
    clock,
    logger,
  );
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { clock, fake, guard, state, records };
}

const withheld = (call: Promise<unknown>) =>
  call.then(
    () => false,
    (e: unknown) => e instanceof VoteWithheldError,
  );

describe("eviction guard", () => {
  it("counts an instance that does not evict", async () => {
    const { guard, state } = setup(NOEVICTION);
    await guard.waitUntilConnected(0);
    expect(state.reads).toBe(1);
    await guard.ping();
    expect(guard.state()).toBe("ok");
    expect(guard.mayEvict()).toBe(false);
  });

  it("withholds the answers of an instance that may evict, and says how to fix it", async () => {
    const { guard, records } = setup(ALLKEYS_LRU);
    await guard.waitUntilConnected(0);
    expect(await withheld(guard.ping())).toBe(true);
    expect(guard.state()).toBe("evicting");
    expect(guard.mayEvict()).toBe(true);
    const warnings = records().filter((r) => r["level"] === 40);
    expect(warnings).toEqual([
      expect.objectContaining({
        instance: "redis://127.0.0.1:6379",
        setting: "maxmemory-policy",
        value: "allkeys-lru",
      }),
    ]);
    expect(warnings[0]!["msg"]).toContain(
      "Set maxmemory-policy noeviction on redis://127.0.0.1:6379, or accept the risk with LOCK_ALLOW_EVICTION=true",
    );
  });

  it("names Dragonfly's cache mode and its flag", async () => {
    const { guard, records } = setup({ known: true, setting: "cache_mode", value: "cache", mayEvict: true });
    await guard.waitUntilConnected(0);
    expect(await withheld(guard.ping())).toBe(true);
    expect(String(records()[0]!["msg"])).toContain("Restart redis://127.0.0.1:6379 without --cache_mode");
  });

  it("with LOCK_ALLOW_EVICTION=true counts it, and warns that a lock can be granted twice", async () => {
    const { guard, records } = setup(ALLKEYS_LRU, true);
    await guard.waitUntilConnected(0);
    await guard.ping();
    expect(guard.state()).toBe("ok");
    expect(guard.mayEvict()).toBe(true);
    expect(String(records()[0]!["msg"])).toContain("LOCK_ALLOW_EVICTION=true");
  });

  it("withholds answers through a new connection until its policy is read", async () => {
    const { fake, guard, state } = setup(NOEVICTION);
    await guard.waitUntilConnected(0);
    fake.reconnect();
    // The server behind the new connection now evicts (restarted with another configuration).
    state.policy = ALLKEYS_LRU;
    expect(await withheld(guard.ping())).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(state.reads).toBe(2);
    expect(guard.state()).toBe("evicting");
  });

  it("reads the policy again after the recheck interval: a fix at run time counts again, and a change for the worse is caught", async () => {
    const { clock, guard, state, records } = setup(ALLKEYS_LRU);
    await guard.waitUntilConnected(0);
    state.policy = NOEVICTION;
    expect(await withheld(guard.ping())).toBe(true);
    expect(state.reads).toBe(1);
    clock.advance(RECHECK_MS);
    await withheld(guard.ping());
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(state.reads).toBe(2);
    expect(guard.state()).toBe("ok");
    await guard.ping();
    expect(records().map((r) => r["msg"])).toContain("instance evicts no more: its votes count again");

    state.policy = { known: true, setting: "maxmemory-policy", value: "volatile-ttl", mayEvict: true };
    clock.advance(RECHECK_MS);
    await withheld(guard.ping());
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(guard.state()).toBe("evicting");
  });

  it("an instance that refuses to tell counts, is warned about once, and each refusal is counted", async () => {
    const { clock, guard, state, records } = setup(REFUSED);
    await guard.waitUntilConnected(0);
    await guard.ping();
    expect(guard.state()).toBe("ok");
    expect(guard.mayEvict()).toBeUndefined();
    clock.advance(RECHECK_MS);
    await guard.ping();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(state.reads).toBe(2);
    expect(state.unreadable).toBe(2);
    const warnings = records().filter((r) => r["level"] === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ instance: "redis://127.0.0.1:6379", reason: REFUSED.reason });
    expect(String(warnings[0]!["msg"])).toContain("votes count unchecked");
  });

  it("a reading that fails (no connection) is taken again on the next call, answers withheld meanwhile", async () => {
    const clock = new ManualClock();
    let fail = true;
    let reads = 0;
    const read = async (): Promise<EvictionPolicy> => {
      reads++;
      if (fail) throw new Error("not connected to redis://127.0.0.1:6380");
      return NOEVICTION;
    };
    const guard = new EvictionGuard(
      new FakeInstance("redis://127.0.0.1:6380", clock),
      read,
      { allowEviction: false, recheckMs: RECHECK_MS },
      clock,
      pino({ level: "silent" }),
    );
    await guard.waitUntilConnected(0);
    expect(guard.state()).toBe("unverified");
    expect(await withheld(guard.ping())).toBe(true);
    // The next call starts a reading before it is sent; here it lands first, so the answer counts.
    fail = false;
    await guard.ping();
    expect(guard.state()).toBe("ok");
    expect(reads).toBe(3);
  });
});

describe("evictionFromInfo", () => {
  it("reads Redis' maxmemory_policy", () => {
    expect(evictionFromInfo("# Memory\r\nused_memory:1\r\nmaxmemory_policy:volatile-lru\r\n")).toEqual({
      known: true,
      setting: "maxmemory-policy",
      value: "volatile-lru",
      mayEvict: true,
    });
    expect(evictionFromInfo("maxmemory_policy:noeviction\r\n")).toMatchObject({ mayEvict: false });
  });

  it("reads Dragonfly's cache_mode, whose maxmemory_policy only mirrors it", () => {
    expect(evictionFromInfo("# Memory\r\ncache_mode:cache\r\nmaxmemory_policy:eviction\r\n")).toEqual({
      known: true,
      setting: "cache_mode",
      value: "cache",
      mayEvict: true,
    });
    expect(evictionFromInfo("cache_mode:store\r\nmaxmemory_policy:noeviction\r\n")).toMatchObject({
      setting: "cache_mode",
      mayEvict: false,
    });
  });

  it("says nothing when neither is reported", () => {
    expect(evictionFromInfo("# Memory\r\nused_memory:1\r\n")).toBeUndefined();
  });
});
