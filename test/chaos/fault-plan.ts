import { FAULT_KINDS, type FaultKind, type Link } from "./history.ts";
import { Prng } from "./prng.ts";

/** What a campaign's fault schedule depends on (and nothing else: same inputs, same plan). */
export interface FaultPlanOptions {
  seed: number;
  durationMs: number;
  instanceCount: number;
  sidecarCount: number;
  /** Longest lease a client asks for; a stopped sidecar stays stopped longer than this. */
  ttlMaxMs: number;
  /** LOCK_MAX_TTL: a "delayed restart" waits longer than this. */
  maxTtlMs: number;
  /** LOCK_INSTANCE_TIMEOUT: link delays are drawn below and above it. */
  instanceTimeoutMs: number;
  /** Independent schedules running side by side, so faults combine. */
  lanes: number;
  /** Pause between one fault's end and the next one's start in a lane. */
  gapMs: readonly [number, number];
  kinds: readonly FaultKind[];
  /** Lane 0 begins with a fault of this kind, so that every seed has one (kinds or not). */
  opening?: FaultKind | undefined;
}

export interface PlannedFault {
  lane: number;
  /** Start, in ms from the campaign's start. */
  atMs: number;
  kind: FaultKind;
  instances: number[];
  sidecars: number[];
  links: Link[];
  /** How long the fault lasts before it heals (0: kill and restart at once). */
  durationMs: number;
  delayMs?: number;
  heal?: "deliver" | "reset";
  /** rolling-restart: time for the long KeepAlive holders to take their locks before the first kill. */
  leadMs?: number;
  /** rolling-restart: the pause after each instance's restart, the last one included. */
  gapsMs?: number[];
}

/** How likely each kind is drawn; restarts weigh most, as the quarantine is what issue 4 is about. */
const WEIGHTS: Record<FaultKind, number> = {
  "instance-kill-restart": 3,
  "instance-kill-delayed-restart": 1,
  "instance-pause-minority": 2,
  "instance-pause-majority": 1.5,
  "instance-pause-all": 0.7,
  "sidecar-pause": 1.5,
  "link-delay": 2,
  "link-blackhole": 2,
  "link-reset": 1.5,
  "sidecar-partition": 1,
  // Long, and it needs every instance free: drawn often enough to come up in about 2 seeds of 5.
  "rolling-restart": 3,
};

/** Time a restart may take beyond the plan (starting redis-server), kept free of other faults. */
const RESTART_ALLOWANCE_MS = 500;

/**
 * The fault schedule of a campaign, drawn from its seed alone. Each lane runs
 * its faults one after another; faults of different lanes may overlap in
 * time but never act on the same target (an instance process, a sidecar
 * process, or one link), so every fault can be healed on its own.
 */
export function planFaults(o: FaultPlanOptions): PlannedFault[] {
  const root = new Prng(o.seed);
  const plan: PlannedFault[] = [];
  const kinds = o.kinds.filter((k) => FAULT_KINDS.includes(k));
  if (kinds.length === 0 || o.lanes <= 0) return plan;
  const weighted = kinds.map((k) => [k, WEIGHTS[k]] as const);
  // Lanes are planned in turn; a lane sees the faults of the lanes before it.
  for (let lane = 0; lane < o.lanes; lane++) {
    const rng = root.fork(`fault-lane-${lane}`);
    let t = rng.int(300, 1200);
    let opening = lane === 0 ? o.opening : undefined;
    while (t < o.durationMs - 500) {
      let placed: PlannedFault | undefined;
      for (let attempt = 0; attempt < 6 && !placed; attempt++) {
        const candidate = drawFault(rng, opening ?? rng.weighted(weighted), lane, t, o);
        if (
          !fits(candidate, o) ||
          plan.some((other) => overlapsInTime(other, candidate) && sharesTarget(other, candidate))
        )
          continue;
        placed = candidate;
      }
      opening = undefined;
      if (placed) {
        plan.push(placed);
        t += busyMs(placed) + rng.int(o.gapMs[0], o.gapMs[1]);
      } else t += 300;
    }
  }
  return plan.sort((a, b) => a.atMs - b.atMs || a.lane - b.lane);
}

function drawFault(rng: Prng, kind: FaultKind, lane: number, atMs: number, o: FaultPlanOptions): PlannedFault {
  const all = range(o.instanceCount);
  const quorum = Math.floor(o.instanceCount / 2) + 1;
  const base = { lane, atMs, kind, instances: [] as number[], sidecars: [] as number[], links: [] as Link[] };
  switch (kind) {
    case "rolling-restart": {
      // Every instance once, in a random order; each pause from half a lease TTL to three.
      const gapsMs = all.map(() => rng.int(Math.round(o.ttlMaxMs / 2), 3 * o.ttlMaxMs));
      // Time for the long holders to take their locks, retrying through other faults.
      const leadMs = o.ttlMaxMs;
      return {
        ...base,
        instances: rng.sample(all, all.length),
        leadMs,
        gapsMs,
        durationMs: leadMs + gapsMs.reduce((a, b) => a + b, 0),
      };
    }
    case "instance-kill-restart":
      return { ...base, instances: [rng.int(0, o.instanceCount - 1)], durationMs: 0 };
    case "instance-kill-delayed-restart":
      return { ...base, instances: [rng.int(0, o.instanceCount - 1)], durationMs: o.maxTtlMs + rng.int(200, 800) };
    case "instance-pause-minority":
      return {
        ...base,
        instances: rng.sample(all, rng.int(1, o.instanceCount - quorum || 1)),
        durationMs: rng.int(200, 2500),
      };
    case "instance-pause-majority":
      return { ...base, instances: rng.sample(all, quorum), durationMs: rng.int(200, 1500) };
    case "instance-pause-all":
      return { ...base, instances: all, durationMs: rng.int(200, 1200) };
    case "sidecar-pause":
      return {
        ...base,
        sidecars: [rng.int(0, o.sidecarCount - 1)],
        durationMs: rng.int(o.ttlMaxMs + 200, o.maxTtlMs + 1000),
      };
    case "link-delay": {
      // Below the instance timeout the link is slow but votes; above it every vote times out.
      const delayMs = rng.chance(0.5)
        ? rng.int(5, Math.max(5, Math.floor(o.instanceTimeoutMs * 0.4)))
        : rng.int(o.instanceTimeoutMs, o.instanceTimeoutMs * 3);
      return { ...base, links: [randomLink(rng, o)], delayMs, durationMs: rng.int(300, 2500) };
    }
    case "link-blackhole":
      return {
        ...base,
        links: [randomLink(rng, o)],
        heal: rng.chance(0.5) ? "deliver" : "reset",
        durationMs: rng.int(200, 2500),
      };
    case "link-reset":
      return { ...base, links: [randomLink(rng, o)], durationMs: rng.int(50, 600) };
    case "sidecar-partition": {
      const sidecar = rng.int(0, o.sidecarCount - 1);
      return {
        ...base,
        sidecars: [sidecar],
        links: all.map((instance) => ({ sidecar, instance })),
        heal: rng.chance(0.5) ? "deliver" : "reset",
        durationMs: rng.int(300, 2000),
      };
    }
  }
}

function randomLink(rng: Prng, o: FaultPlanOptions): Link {
  return { sidecar: rng.int(0, o.sidecarCount - 1), instance: rng.int(0, o.instanceCount - 1) };
}

/** How long a fault occupies its targets. */
export function busyMs(f: PlannedFault): number {
  if (f.kind === "rolling-restart") return f.durationMs + f.instances.length * RESTART_ALLOWANCE_MS;
  return f.durationMs + (f.kind.startsWith("instance-kill") ? RESTART_ALLOWANCE_MS : 0);
}

/** A rolling restart must end within the plan: its last quarantines are what the calm tail judges. */
function fits(f: PlannedFault, o: FaultPlanOptions): boolean {
  return f.kind !== "rolling-restart" || f.atMs + busyMs(f) <= o.durationMs;
}

function overlapsInTime(a: PlannedFault, b: PlannedFault): boolean {
  return a.atMs < b.atMs + busyMs(b) && b.atMs < a.atMs + busyMs(a);
}

/** The targets a fault acts on: instance processes, sidecar processes, links. */
export function targetsOf(f: PlannedFault): string[] {
  const targets: string[] = [];
  if (f.kind.startsWith("instance-") || f.kind === "rolling-restart")
    targets.push(...f.instances.map((i) => `instance:${i}`));
  if (f.kind === "sidecar-pause") targets.push(...f.sidecars.map((s) => `sidecar:${s}`));
  targets.push(...f.links.map((l) => `link:${l.sidecar}:${l.instance}`));
  return targets;
}

function sharesTarget(a: PlannedFault, b: PlannedFault): boolean {
  const mine = new Set(targetsOf(a));
  return targetsOf(b).some((t) => mine.has(t));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
