/**
 * A lock key without expiry on a witness (docs/design.md, "Restarted
 * instances", A lock key without expiry on a witness). No sidecar writes
 * one, but it may stand for a lease the restarted instance forgot, so the
 * quarantine keeps its LOCK_MAX_TTL end. It used to count as "too few
 * witnesses": every sidecar scanned every witness again each second,
 * finding the same key each time, until LOCK_MAX_TTL.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { GuardedInstance } from "../../src/instances/guarded-instance.ts";
import { eventually } from "../support/sidecar-fixture.ts";
import { startWitnessed } from "./support/witnessed-guards.ts";

const QUARANTINE = 300_000; // LOCK_MAX_TTL
const PREFIX = "f:";
/** Longer than a retry in fallback: a 1 s pause, then the ~1 s wait for writes in flight. */
const RETRY_WINDOW_MS = 2_600;

const opened: GuardedInstance[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((guard) => guard.close()));
});

describe("a restart while a witness holds a lock key without expiry", () => {
  it("sits out the whole LOCK_MAX_TTL, says so once with the witness, and scans no witness again", async () => {
    const { clock, lines, fakes, guards } = await startWitnessed(3, {
      prefix: PREFIX,
      quarantineMs: QUARANTINE,
      circuitFailures: 3,
    });
    opened.push(...guards);
    // A short lease on both witnesses: skipping the endless key would end the quarantine after 5 s.
    fakes[1]!.put(`${PREFIX}lock:short`, "s1", 5_000);
    fakes[2]!.put(`${PREFIX}lock:short`, "s1", 5_000);
    fakes[1]!.put(`${PREFIX}lock:foreign`, "not a sidecar's", undefined);

    fakes[0]!.restart();
    await guards[0]!.waitUntilConnected(0);
    await eventually(() => guards[0]!.quarantineBasis() === "fallback", 3000, "fallback");
    expect(guards[0]!.quarantineRemainingMs()).toBe(QUARANTINE);

    await new Promise((resolve) => setTimeout(resolve, RETRY_WINDOW_MS));
    expect(fakes[1]!.callsOf("longestTtlMs")).toHaveLength(1);
    expect(fakes[2]!.callsOf("longestTtlMs")).toHaveLength(1);
    const said = lines.filter((line) => line.includes("without expiry"));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`fake-1 holds a key matching ${PREFIX}lock:* without expiry`);

    // Never shorter than the plain rule: out until LOCK_MAX_TTL after the restart, then counted.
    clock.advance(QUARANTINE - 1);
    expect(guards[0]!.state()).toBe("quarantined");
    clock.advance(1);
    expect(guards[0]!.state()).toBe("ok");
  });
});
