import { describe, expect, it } from "vitest";
import { busyMs, planFaults, targetsOf, type FaultPlanOptions } from "./fault-plan.ts";
import { FAULT_KINDS } from "./history.ts";

const options: FaultPlanOptions = {
  seed: 1,
  durationMs: 60_000,
  instanceCount: 3,
  sidecarCount: 3,
  ttlMaxMs: 1000,
  maxTtlMs: 2000,
  instanceTimeoutMs: 100,
  lanes: 2,
  gapMs: [200, 1500],
  kinds: FAULT_KINDS,
};

describe("planFaults", () => {
  it("is a function of its options: a seed names a schedule", () => {
    expect(planFaults(options)).toEqual(planFaults(options));
    expect(planFaults({ ...options, seed: 2 })).not.toEqual(planFaults(options));
  });

  it("draws every kind over a long campaign, within the duration", () => {
    const plan = planFaults(options);
    expect(new Set(plan.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    for (const f of plan) {
      expect(f.atMs).toBeGreaterThanOrEqual(0);
      expect(f.atMs).toBeLessThan(options.durationMs);
    }
  });

  it("never lets two faults act on one target at the same time", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const plan = planFaults({ ...options, seed, lanes: 3 });
      for (let i = 0; i < plan.length; i++) {
        for (let j = i + 1; j < plan.length; j++) {
          const a = plan[i]!;
          const b = plan[j]!;
          const together = a.atMs < b.atMs + busyMs(b) && b.atMs < a.atMs + busyMs(a);
          if (together) expect(targetsOf(a).filter((t) => targetsOf(b).includes(t))).toEqual([]);
        }
      }
    }
  });

  it("keeps the shapes each kind promises", () => {
    for (const f of planFaults({ ...options, durationMs: 120_000 })) {
      switch (f.kind) {
        case "instance-pause-minority":
          expect(f.instances).toHaveLength(1);
          break;
        case "instance-pause-majority":
          expect(f.instances).toHaveLength(2);
          break;
        case "instance-pause-all":
          expect([...f.instances].sort()).toEqual([0, 1, 2]);
          break;
        case "instance-kill-delayed-restart":
          expect(f.durationMs).toBeGreaterThan(options.maxTtlMs);
          break;
        case "sidecar-pause":
          expect(f.durationMs).toBeGreaterThan(options.ttlMaxMs);
          break;
        case "sidecar-partition":
          expect(f.links).toHaveLength(3);
          expect(new Set(f.links.map((l) => l.sidecar)).size).toBe(1);
          break;
        case "link-delay":
          expect(f.delayMs).toBeDefined();
          break;
        case "rolling-restart":
          expect([...f.instances].sort()).toEqual([0, 1, 2]);
          break;
        default:
          break;
      }
    }
  });

  it("plans rolling restarts of every instance once, with gaps from half a lease TTL to three, ending within the plan", () => {
    let planned = 0;
    for (const seed of Array.from({ length: 20 }, (_, i) => i + 1)) {
      const plan = planFaults({
        ...options,
        seed,
        durationMs: 30_000,
        kinds: ["rolling-restart", "instance-kill-restart", "link-reset"],
      });
      for (const f of plan.filter((p) => p.kind === "rolling-restart")) {
        planned++;
        expect([...f.instances].sort()).toEqual([0, 1, 2]);
        expect(f.gapsMs).toHaveLength(3);
        for (const gap of f.gapsMs!) {
          expect(gap).toBeGreaterThanOrEqual(options.ttlMaxMs / 2);
          expect(gap).toBeLessThanOrEqual(3 * options.ttlMaxMs);
        }
        expect(f.leadMs).toBeGreaterThan(0);
        expect(f.durationMs).toBe(f.leadMs! + f.gapsMs!.reduce((a, b) => a + b, 0));
        expect(f.atMs + busyMs(f)).toBeLessThanOrEqual(30_000);
        // No other fault acts on an instance meanwhile.
        const others = plan.filter((o) => o !== f && o.atMs < f.atMs + busyMs(f) && f.atMs < o.atMs + busyMs(o));
        expect(others.flatMap((o) => targetsOf(o)).filter((t) => t.startsWith("instance:"))).toEqual([]);
      }
    }
    expect(planned).toBeGreaterThan(5);
  });

  it("opens lane 0 with the kind asked for, in every seed, whatever the kinds drawn", () => {
    for (const seed of Array.from({ length: 20 }, (_, i) => i + 1)) {
      const plan = planFaults({
        ...options,
        seed,
        durationMs: 15_000,
        opening: "rolling-restart",
        kinds: ["link-reset"],
      });
      expect(plan.find((f) => f.lane === 0)?.kind).toBe("rolling-restart");
      expect(plan.filter((f) => f.kind === "rolling-restart")).toHaveLength(1);
    }
  });

  it("plans only the kinds asked for, and nothing without lanes", () => {
    const plan = planFaults({ ...options, kinds: ["link-reset"] });
    expect(plan.length).toBeGreaterThan(0);
    expect(plan.every((f) => f.kind === "link-reset")).toBe(true);
    expect(planFaults({ ...options, lanes: 0 })).toEqual([]);
  });
});
