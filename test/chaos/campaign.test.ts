import { describe, expect, it } from "vitest";
import { DEFAULT_CAMPAIGN, runCampaign } from "./campaign.ts";
import { formatSummary } from "./cli.ts";

/**
 * A short seeded campaign end to end: three redis-server instances, three
 * sidecar processes behind fault proxies, six clients, two frozen owners,
 * probes and faults of every kind for 8 s, then the leftover-key scan and
 * the checker.
 */
describe("chaos campaign", () => {
  it("runs a short seeded campaign without violations", async () => {
    const result = await runCampaign({ ...DEFAULT_CAMPAIGN, seed: 11, durationMs: 8000 });
    const summary = formatSummary(result);
    expect(result.violations, summary).toEqual([]);
    expect(result.history.grants.length, summary).toBeGreaterThan(5);
    expect(result.history.faults.length, summary).toBeGreaterThan(2);
    expect(result.history.probes.length, summary).toBeGreaterThan(5);
    // Owners frozen past the ping timeout, their connections dropped, their told ends kept.
    expect(result.history.frozenOwners.filter((e) => e.endCode === 14).length, summary).toBeGreaterThan(0);
    expect(result.history.keyScan, summary).toBeDefined();
    expect(summary).toMatch(/result: PASS/);
  }, 150_000);
});
