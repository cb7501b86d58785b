import { describe, expect, it } from "vitest";
import { DEFAULT_CAMPAIGN, runCampaign } from "./campaign.ts";
import { formatSummary } from "./cli.ts";

/**
 * A short seeded campaign end to end: three redis-server instances, three
 * sidecar processes behind fault proxies, six clients, two frozen owners,
 * probes, a rolling restart first and faults of every kind for 10 s, then
 * the leftover-key scan and the checker.
 */
describe("chaos campaign", () => {
  it("runs a short seeded campaign without violations", async () => {
    const result = await runCampaign({
      ...DEFAULT_CAMPAIGN,
      seed: 11,
      durationMs: 10_000,
      openingFault: "rolling-restart",
    });
    const summary = formatSummary(result);
    expect(result.violations, summary).toEqual([]);
    expect(result.history.grants.length, summary).toBeGreaterThan(5);
    expect(result.history.faults.length, summary).toBeGreaterThan(2);
    expect(result.history.probes.length, summary).toBeGreaterThan(5);
    // Owners frozen past the ping timeout, their connections dropped, their told ends kept.
    expect(result.history.frozenOwners.filter((e) => e.endCode === 14).length, summary).toBeGreaterThan(0);
    // Every instance restarted empty in turn, with long KeepAlive holders taking part.
    const rolling = result.history.faults.find((f) => f.kind === "rolling-restart");
    expect(rolling?.restarts?.map((r) => r.instance).sort(), summary).toEqual([0, 1, 2]);
    expect(rolling?.holderGrants?.length, summary).toBeGreaterThan(0);
    expect(summary).toMatch(/rolling restart #\d+: .*\n {2}UNAVAILABLE \d+\.\d s of/);
    expect(result.history.keyScan, summary).toBeDefined();
    expect(summary).toMatch(/result: PASS/);
  }, 150_000);
});
