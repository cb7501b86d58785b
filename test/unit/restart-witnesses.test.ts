import { afterEach, describe, expect, it } from "vitest";
import type { GuardedInstance } from "../../src/instances/guarded-instance.ts";
import { eventually } from "../support/sidecar-fixture.ts";
import { startWitnessed } from "./support/witnessed-guards.ts";

const QUARANTINE = 300_000; // LOCK_MAX_TTL
const PREFIX = "w:";

const opened: GuardedInstance[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((guard) => guard.close()));
});

/** Guards over `n` fakes sharing witnesses, as the sidecar wires them; all identified. */
async function setup(n = 3) {
  const { clock, lines, fakes, guards } = await startWitnessed(n, {
    prefix: PREFIX,
    quarantineMs: QUARANTINE,
    circuitFailures: 3,
  });
  opened.push(...guards);
  const restart = async (i: number): Promise<void> => {
    fakes[i]!.restart();
    await guards[i]!.waitUntilConnected(0);
  };
  return { clock, lines, fakes, guards, restart };
}

describe("a restarted instance's quarantine, bounded by its witnesses", () => {
  it("ends when the longest lease on the others would have ended (plus drift), not after LOCK_MAX_TTL", async () => {
    const { fakes, guards, restart, lines } = await setup();
    fakes[0]!.put(`${PREFIX}lock:a`, "s1", 5_000);
    fakes[1]!.put(`${PREFIX}lock:a`, "s1", 5_000);
    fakes[2]!.put(`${PREFIX}lock:b`, "s2", 8_000);
    fakes[1]!.put(`${PREFIX}fence:b`, "17", 60_000); // not a lock key: does not count
    await restart(0);
    expect(guards[0]!.state()).toBe("quarantined");
    expect(guards[0]!.quarantineBasis()).toBe("pending");
    await eventually(() => guards[0]!.quarantineBasis() === "witnessed", 2000, "witnessed");
    // 8 000 ms on fake-2, with 1 % drift and 2 ms.
    expect(guards[0]!.quarantineRemainingMs()).toBe(8_000 * 1.01 + 2);
    expect(lines.join("")).toContain("instance quarantine shortened");
  });

  it("with nothing held on the witnesses, counts again at once (after the wait for writes in flight)", async () => {
    const { guards, restart } = await setup();
    await restart(1);
    await eventually(() => guards[1]!.quarantineBasis() === "witnessed", 2000, "witnessed");
    expect(guards[1]!.quarantineRemainingMs()).toBe(2);
  });

  it("falls back to LOCK_MAX_TTL while too few others kept their memory, and shortens once the other's quarantine is over", async () => {
    const { clock, fakes, guards, restart, lines } = await setup();
    fakes[2]!.put(`${PREFIX}lock:a`, "s1", 4_000);
    await restart(0);
    await eventually(() => guards[0]!.quarantineBasis() === "witnessed", 2000, "first witnessed");
    // A second instance restarts while the first still sits out: one witness of the two needed.
    await restart(1);
    await eventually(() => guards[1]!.quarantineBasis() === "fallback", 2000, "fallback");
    expect(guards[1]!.quarantineRemainingMs()).toBe(QUARANTINE);
    expect(lines.join("")).toContain("falls back to LOCK_MAX_TTL");
    // The first one's quarantine ends: it witnesses for the second, asked again each second.
    clock.advance(4_100);
    expect(guards[0]!.state()).toBe("ok");
    await eventually(() => guards[1]!.quarantineBasis() === "witnessed", 3000, "second witnessed");
    expect(guards[1]!.quarantineRemainingMs()).toBeLessThan(QUARANTINE - 4_000);
  });

  it("does not trust a witness whose connection changed during the scan (it may have restarted)", async () => {
    const { fakes, guards, restart } = await setup();
    fakes[1]!.behave("gate", "longestTtlMs");
    await restart(0);
    await eventually(() => fakes[1]!.gated === 1, 2000, "scan out");
    fakes[1]!.reconnect();
    fakes[1]!.openGate();
    await eventually(() => guards[0]!.quarantineBasis() === "fallback", 2000, "fallback");
  });

  it("a key without expiry on a witness cannot be bounded: fallback", async () => {
    const { fakes, guards, restart } = await setup();
    fakes[1]!.put(`${PREFIX}lock:forever`, "s", undefined);
    await restart(0);
    await eventually(() => guards[0]!.quarantineBasis() === "fallback", 2000, "fallback");
  });
});

describe("a release the instance could not take", () => {
  it("is sent again, through the guard, once the instance answers", async () => {
    const { fakes, guards } = await setup();
    fakes[0]!.put(`${PREFIX}lock:x`, "secret-x", 60_000);
    fakes[0]!.behave("fail", "release");
    await expect(guards[0]!.release(`${PREFIX}lock:x`, "secret-x")).rejects.toThrow();
    expect(guards[0]!.unsentReleases).toBe(1);
    fakes[0]!.behave("answer", "release");
    await guards[0]!.ping();
    await eventually(
      () => guards[0]!.unsentReleases === 0 && fakes[0]!.valueAt(`${PREFIX}lock:x`) === undefined,
      2000,
      "retried",
    );
    expect(fakes[0]!.callsOf("release")).toHaveLength(2);
  });
});
