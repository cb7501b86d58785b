import { afterEach, describe, expect, it, vi } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import { LocalChannels } from "../../src/instances/local-channels.ts";
import type { InstanceAcquire } from "../../src/instances/lock-instance.ts";
import { LockStore } from "../../src/instances/lock-store.ts";
import { MemoryInstance } from "../../src/instances/memory-instance.ts";
import { ManualClock } from "./support/manual-clock.ts";

/**
 * Issue 12: the embedded store must not keep what expired. Keys and tickets
 * of names nobody touches again are swept, and the sweep changes nothing
 * a script could see.
 */
const TTL = 200;
const RETENTION = 500;

function request(name: string, secret: string, ticket = ""): InstanceAcquire {
  return { keys: lockKeys("s:", name), secret, ttlMs: TTL, fenceRetentionMs: RETENTION, ticket, ticketTtlMs: TTL };
}

/** Per name: a grant that consumes its ticket, and a refused waiter whose ticket is left to expire. */
function fill(store: LockStore, names: number): void {
  for (let i = 0; i < names; i++) {
    expect(store.acquire(request(`n${i}`, `a${i}`, `0001-a${i}`)).granted).toBe(true);
    expect(store.acquire(request(`n${i}`, `b${i}`, `0002-b${i}`)).granted).toBe(false);
  }
}

describe("LockStore sweep", () => {
  it("a granted ticket leaves no empty queue behind", () => {
    const store = new LockStore(new ManualClock());
    store.acquire(request("job", "a", "0001-a"));
    expect(store.size()).toEqual({ entries: 2, ticketQueues: 0 });
  });

  it("a withdrawn ticket leaves no empty queue behind", () => {
    const store = new LockStore(new ManualClock());
    store.acquire(request("job", "holder"));
    store.acquire(request("job", "w", "0001-w"));
    expect(store.size().ticketQueues).toBe(1);
    store.withdrawTicket(lockKeys("s:", "job").queue, "0001-w");
    expect(store.size().ticketQueues).toBe(0);
  });

  it("writes on other names sweep what expired: the store returns to what is live", () => {
    const clock = new ManualClock();
    const store = new LockStore(clock);
    fill(store, 1000);
    expect(store.size()).toEqual({ entries: 2000, ticketQueues: 1000 });
    clock.advance(RETENTION);
    // One name, acquired and released over and over: far fewer writes than stored entries.
    for (let i = 0; i < 1000; i++) {
      store.acquire(request("busy", `x${i}`));
      store.release(lockKeys("s:", "busy").lock, `x${i}`);
    }
    expect(store.size()).toEqual({ entries: 1, ticketQueues: 0 }); // the busy name's fencing counter
  });

  it("never drops what is live: keys, counters, keys without expiry and tickets read as before", () => {
    const clock = new ManualClock();
    const store = new LockStore(clock, { fenceStart: 100n });
    const keys = lockKeys("s:", "job");
    store.acquire(request("job", "holder"));
    store.acquire(request("job", "w", "0002-w"));
    store.put("forever", "v", undefined);
    clock.advance(TTL - 1);
    for (let i = 0; i < 10; i++) store.sweep(1000);
    expect(store.size()).toEqual({ entries: 3, ticketQueues: 1 });
    expect(store.acquire(request("job", "other"))).toEqual({ granted: false, holderTtlMs: 1 });
    expect(store.tickets(keys.queue)).toEqual(["0002-w"]);
    expect(store.get("forever")?.value).toBe("v");
    clock.advance(1);
    store.sweep(1000);
    expect(store.acquire(request("job", "next"))).toEqual({ granted: true, fence: 101n }); // the counter outlived the lock
    expect(store.keys().sort()).toEqual(["forever", keys.fence, keys.lock].sort());
  });

  it("looks at no more than its budget per call, and resumes where it stopped", () => {
    const clock = new ManualClock();
    const store = new LockStore(clock);
    for (let i = 0; i < 100; i++) store.put(`k${i}`, "v", 10);
    clock.advance(10);
    store.sweep(30);
    expect(store.size().entries).toBe(70);
    store.sweep(30);
    store.sweep(30);
    store.sweep(30);
    expect(store.size().entries).toBe(0);
  });
});

describe("MemoryInstance sweep timer", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("frees every expired name nobody touches again, and close() stops the timer", async () => {
    vi.useFakeTimers();
    const clock = new ManualClock();
    const instance = new MemoryInstance("m", clock, { sweepIntervalMs: 50 });
    for (let i = 0; i < 1000; i++) {
      expect((await instance.acquire(request(`n${i}`, `a${i}`, `0001-a${i}`))).granted).toBe(true);
      expect((await instance.acquire(request(`n${i}`, `b${i}`, `0002-b${i}`))).granted).toBe(false);
    }
    expect(instance.storeSize().ticketQueues).toBe(1000);
    clock.advance(RETENTION);
    vi.advanceTimersByTime(50);
    expect(instance.storeSize()).toEqual({ entries: 0, ticketQueues: 0 });
    expect(vi.getTimerCount()).toBe(1);
    await instance.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("its timer does not keep the process alive", async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const instance = new MemoryInstance("m", new ManualClock());
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBe(before);
    await instance.close();
  });
});

describe("LocalChannels", () => {
  it("unsubscribing leaves no channel behind, and a second call cannot drop a later subscriber", async () => {
    const channels = new LocalChannels();
    const heard: string[] = [];
    const first = channels.subscribe("c", () => heard.push("first"));
    first();
    expect(channels.channelCount).toBe(0);
    const second = channels.subscribe("c", (m) => heard.push(m));
    first(); // a stale unsubscribe, called twice
    channels.publish("c", "still heard");
    await new Promise((resolve) => setImmediate(resolve));
    expect(heard).toEqual(["still heard"]);
    second();
    expect(channels.channelCount).toBe(0);
  });
});
