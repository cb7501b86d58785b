import { describe, expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";
import {
  ACQUIRE,
  EXTEND,
  HANDOVER,
  LONGEST_TTL,
  RAISE_FENCE,
  READ_LOCK,
  RELEASE,
  WITHDRAW_TICKET,
} from "../../src/instances/lua-scripts.ts";
import {
  acquireCall,
  extendCall,
  handoverCall,
  holderOfValue,
  holdsSecret,
  lockValue,
  raiseFenceCall,
  readLockCall,
  readLockReply,
  releaseCall,
  withdrawTicketCall,
} from "../../src/instances/script-args.ts";
import { acquiring } from "./contract-subject.ts";

const keys = lockKeys("p:", "job");

/**
 * The scripts' arguments, pinned to the positions the hand-built arrays used
 * before the encoder: a change here changes what every instance receives.
 */
describe("script arguments", () => {
  it("acquire: lock, counter and ticket hash in KEYS; secret, TTL, retention, ticket, ticket TTL, overtake and holder in ARGV", () => {
    const request = acquiring(keys, "s1", {
      ttlMs: 1000,
      fenceRetentionMs: 60_000,
      ticket: "0001-t",
      ticketTtlMs: 500,
    });
    expect(acquireCall(request)).toEqual({
      keys: ["p:lock:job", "p:fence:job", "p:queue:job"],
      args: ["s1", 1000, 60_000, "0001-t", 500, "", "1700000000123 contract case"],
    });
    expect(acquireCall({ ...request, overtake: true }).args[5]).toBe("1");
    // No holder: the key holds the secret alone, as sidecars before it wrote.
    expect(acquireCall({ ...request, holder: undefined }).args[6]).toBe("");
    expect(acquireCall({ ...request, holder: { owner: "a b", sinceMs: 12.9 } }).args[6]).toBe("12 a b");
  });

  it("release: the ticket hash is declared only when the release is announced", () => {
    expect(releaseCall(keys.lock, "s1")).toEqual({ keys: ["p:lock:job"], args: ["s1", "", ""] });
    const announce = { channel: keys.channel, tag: "t1", queueKey: keys.queue };
    expect(releaseCall(keys.lock, "s1", announce)).toEqual({
      keys: ["p:lock:job", "p:queue:job"],
      args: ["s1", "p:released:job", "t1"],
    });
  });

  it("handover: RELEASE's arguments, then ACQUIRE's, on ACQUIRE's keys; only for one lock", () => {
    const request = acquiring(keys, "s2");
    const announce = { channel: keys.channel, tag: "t1", queueKey: keys.queue };
    const call = handoverCall({ lockKey: keys.lock, secret: "s1", announce }, request);
    expect(call).toEqual({
      keys: acquireCall(request).keys,
      args: [...releaseCall(keys.lock, "s1", announce).args, ...acquireCall(request).args],
    });
    expect(() => handoverCall({ lockKey: "p:lock:other", secret: "s1" }, request)).toThrow(/not the same lock/);
  });

  it("extend, withdrawTicket, raiseFence", () => {
    const items = [
      { lockKey: "p:lock:a", secret: "sa", ttlMs: 100 },
      { lockKey: "p:lock:b", secret: "sb", ttlMs: 200 },
    ];
    expect(extendCall(items, true)).toEqual({ keys: ["p:lock:a", "p:lock:b"], args: ["1", "sa", 100, "sb", 200] });
    expect(extendCall([], false)).toEqual({ keys: [], args: ["0"] });
    expect(withdrawTicketCall(keys.queue, "0001-t")).toEqual({ keys: ["p:queue:job"], args: ["0001-t"] });
    expect(raiseFenceCall(keys.fence, 2n ** 64n, 500)).toEqual({
      keys: ["p:fence:job"],
      args: ["18446744073709551616", 500],
    });
  });

  it("each script reads its fixed KEYS and ARGV in one line that names them, and by name after", () => {
    const bound = (source: string, table: string): string[] =>
      source.split("\n").filter((line) => line.includes(`${table}[`));
    expect(bound(ACQUIRE.source, "ARGV")).toEqual([
      "local secret, ttlMs, retentionMs, ticket, ticketTtlMs, overtake, holder = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]",
    ]);
    expect(bound(HANDOVER.source, "ARGV")).toHaveLength(1);
    expect(bound(HANDOVER.source, "ARGV")[0]).toMatch(
      /^local heldSecret, channel, tag, secret, .*, holder = ARGV\[1\], .*ARGV\[10\]$/,
    );
    for (const script of [ACQUIRE, HANDOVER, RELEASE, WITHDRAW_TICKET, RAISE_FENCE]) {
      expect(bound(script.source, "KEYS")).toHaveLength(1);
      expect(bound(script.source, "ARGV")).toHaveLength(1);
    }
    // EXTEND and LONGEST_TTL take any number of keys, and read them in a loop.
    expect(bound(EXTEND.source, "ARGV")[0]).toBe("local adopt = ARGV[1]");
    expect(LONGEST_TTL.source).not.toContain("ARGV");
    expect(bound(READ_LOCK.source, "KEYS")).toEqual(["local lockKey, fenceKey, queueKey = KEYS[1], KEYS[2], KEYS[3]"]);
    expect(READ_LOCK.source).not.toContain("ARGV");
  });

  it("readLock: the lock, counter and ticket hash in KEYS; its reply parsed, an empty holder or counter as none", () => {
    expect(readLockCall(keys)).toEqual({ keys: ["p:lock:job", "p:fence:job", "p:queue:job"], args: [] });
    expect(readLockReply([4000, "17 web 7", "18446744073709551616", 2])).toEqual({
      ttlMs: 4000,
      holder: { owner: "web 7", sinceMs: 17 },
      fence: 2n ** 64n,
      tickets: 2,
    });
    expect(readLockReply([-2, "", "", 0])).toEqual({ ttlMs: -2, holder: undefined, fence: undefined, tickets: 0 });
    expect(() => readLockReply([1, 2])).toThrow(/unexpected read-lock reply/);
  });

  it("the lock key's value: the secret, a space, then the holder; a secret holds it, its prefix does not", () => {
    const value = lockValue("s3cr3t", { owner: "me and you", sinceMs: 42 });
    expect(value).toBe("s3cr3t 42 me and you");
    expect(holderOfValue(value)).toEqual({ owner: "me and you", sinceMs: 42 });
    expect(holderOfValue("s3cr3t")).toBeUndefined();
    expect(holdsSecret(value, "s3cr3t")).toBe(true);
    expect(holdsSecret("s3cr3t", "s3cr3t")).toBe(true);
    expect(holdsSecret(value, "s3cr")).toBe(false);
    expect(holdsSecret(undefined, "s3cr3t")).toBe(false);
  });
});
