import { at, describeGrant, faultsAround } from "./history-text.ts";
import type { FaultRecord, GrantRecord, History, KeyScan, ProbeRecord, ResourceOp } from "./history.ts";
import { checkToldEnd } from "./told-end-check.ts";

/**
 * The history checker: pure functions from a recorded History to the list of
 * broken invariants. No I/O, no clock: unit tests feed it hand-made histories.
 *
 * (a) exclusion    no two client-observed lease intervals on one name overlap;
 * (b) fencing      tokens per name are distinct, and strictly increase in grant
 *                  order wherever that order is certain;
 * (c) resource     the fenced resource obeyed its rule and lost no
 *                  acknowledged write;
 * (d) leftovers    once every client and sidecar is gone and a max TTL has
 *                  passed, no lock key remains, and no key lacks an expiry;
 * (e) liveness     probes with a majority reachable are granted within a
 *                  bound; with a majority unreachable they fail fast with
 *                  UNAVAILABLE; no probe hangs (not judged while the
 *                  machine was starved: see stall-monitor.ts);
 * (f) told-end     a frozen owner's lock goes to no one else before the last
 *                  expires_at it read, unless it gave the lease up itself
 *                  (told-end-check.ts).
 */
export type Invariant = "exclusion" | "fencing" | "resource" | "leftovers" | "liveness" | "told-end";

export const INVARIANTS: readonly Invariant[] = [
  "exclusion",
  "fencing",
  "resource",
  "leftovers",
  "liveness",
  "told-end",
];

export interface Violation {
  invariant: Invariant;
  message: string;
}

export interface CheckOptions {
  /**
   * Overlap below this many ms is not reported: expires_at travels as whole
   * wall-clock milliseconds. Real overlaps are far larger; the drift
   * allowance (>= 2 ms) keeps correct leases apart by more than this.
   */
  overlapToleranceMs: number;
  /** LOCK_MAX_TTL: the longest a lock key can live without a renewal. */
  maxTtlMs: number;
  /** LOCK_INSTANCE_TIMEOUT: a link slower than this (round trip) loses every vote. */
  instanceTimeoutMs: number;
  /** After a fault heals, how long the instance's state is treated as unknown (reconnects, probes). */
  settleMs: number;
  /** LOCK_RESTART_QUARANTINE on: LOCK_MAX_TTL; off: 0. A restarted instance is unknown this much longer. */
  quarantineMs: number;
  /** A probe with a majority reachable must be granted within its wait plus this. */
  healthyBoundMs: number;
  /** A probe with a majority unreachable must fail within its wait plus this. */
  outageBoundMs: number;
  /**
   * (f) reports a grant that arrived more than this before a frozen owner's
   * told end. It only covers reading the clocks: expires_at is floored to
   * whole wall-clock ms, and the wall-to-monotonic offset is read to within
   * a millisecond. A correct sidecar keeps further apart than that: keys
   * outlive the told end by the drift allowance (1% of the TTL + 2 ms).
   */
  toldEndToleranceMs: number;
}

export const DEFAULT_CHECK_OPTIONS: CheckOptions = {
  overlapToleranceMs: 1,
  maxTtlMs: 2000,
  instanceTimeoutMs: 100,
  settleMs: 2000,
  quarantineMs: 2000,
  healthyBoundMs: 1500,
  outageBoundMs: 1000,
  toldEndToleranceMs: 2,
};

export function checkHistory(history: History, options: Partial<CheckOptions> = {}): Violation[] {
  const o = { ...DEFAULT_CHECK_OPTIONS, ...options };
  return [
    ...checkExclusion(history, o),
    ...checkFencing(history),
    ...checkResource(history),
    ...(history.keyScan ? checkLeftovers(history.keyScan, o) : []),
    ...checkLiveness(history, o),
    ...checkToldEnd(history, o),
  ];
}

// --- (a) exclusion ------------------------------------------------------------

export interface Interval {
  start: number;
  end: number;
}

/**
 * The span in which the client held the lease by its own knowledge: from the
 * arrival of the grant to the earlier of the moment it stopped relying on it
 * and the latest expires_at it had learnt before the lease ran out in its
 * view. A renewal arriving after that moment (or after the client stopped)
 * comes too late to count: the client had already given the lease up.
 * Empty (end <= start) when the grant itself arrived after its expires_at.
 */
export function clientInterval(grant: GrantRecord): Interval {
  const stop = grant.stoppedAt ?? Number.POSITIVE_INFINITY;
  let validUntil = grant.expiresAt;
  for (const renewal of grant.renewals) {
    if (renewal.receivedAt >= validUntil || renewal.receivedAt >= stop) break;
    validUntil = Math.max(validUntil, renewal.expiresAt);
  }
  return { start: grant.receivedAt, end: Math.min(stop, validUntil) };
}

export function checkExclusion(
  history: History,
  o: Pick<CheckOptions, "overlapToleranceMs" | "maxTtlMs">,
): Violation[] {
  const violations: Violation[] = [];
  for (const grants of byName(history.grants).values()) {
    const spans = grants
      .map((grant) => ({ grant, ...clientInterval(grant) }))
      .filter((s) => s.end > s.start)
      .sort((a, b) => a.start - b.start || a.end - b.end);
    let widest: (typeof spans)[number] | undefined;
    for (const span of spans) {
      if (widest && span.start < widest.end - o.overlapToleranceMs) {
        const overlapMs = Math.min(widest.end, span.end) - span.start;
        violations.push({
          invariant: "exclusion",
          message:
            `lock ${JSON.stringify(span.grant.name)}: ${describeGrant(widest.grant, history)} held it until ${at(widest.end, history)}, ` +
            `but ${describeGrant(span.grant, history)} was granted it at ${at(span.start, history)} (overlap ${overlapMs.toFixed(1)} ms)` +
            faultsAround(history, widest.grant.requestedAt - o.maxTtlMs, span.start),
        });
      }
      if (!widest || span.end > widest.end) widest = span;
    }
  }
  return violations;
}

// --- (b) fencing tokens -----------------------------------------------------------

/**
 * Whether `a` was certainly granted before `b`: `a`'s grant arrived before
 * `b`'s Acquire was sent, or both were held (non-empty intervals) and `a`'s
 * interval ended before `b`'s began. Overlapping or empty intervals tell
 * nothing about the order (overlaps are (a)'s business).
 */
export function grantedBefore(a: GrantRecord, b: GrantRecord): boolean {
  return certainlyBefore(a, clientInterval(a), b, clientInterval(b));
}

function certainlyBefore(a: GrantRecord, ia: Interval, b: GrantRecord, ib: Interval): boolean {
  if (a.receivedAt <= b.requestedAt) return true;
  return ia.end > ia.start && ib.end > ib.start && ia.end <= ib.start;
}

export function checkFencing(history: History): Violation[] {
  const violations: Violation[] = [];
  for (const grants of byName(history.grants).values()) {
    const seen = new Map<bigint, GrantRecord>();
    for (const grant of grants) {
      const other = seen.get(grant.fencingToken);
      if (other) {
        violations.push({
          invariant: "fencing",
          message: `lock ${JSON.stringify(grant.name)}: fencing token ${grant.fencingToken} handed out twice, to ${describeGrant(other, history)} and ${describeGrant(grant, history)}`,
        });
      } else seen.set(grant.fencingToken, grant);
    }
    const ordered = grants
      .map((grant) => ({ grant, interval: clientInterval(grant) }))
      .sort((x, y) => x.grant.receivedAt - y.grant.receivedAt);
    for (let i = 0; i < ordered.length; i++) {
      const { grant: a, interval: ia } = ordered[i]!;
      for (let j = i + 1; j < ordered.length; j++) {
        const { grant: b, interval: ib } = ordered[j]!;
        if (a.fencingToken === b.fencingToken) continue;
        if (!(a.fencingToken < b.fencingToken) && certainlyBefore(a, ia, b, ib)) {
          violations.push({
            invariant: "fencing",
            message: `lock ${JSON.stringify(a.name)}: ${describeGrant(a, history)} was granted before ${describeGrant(b, history)} but its token is not lower`,
          });
        }
      }
    }
  }
  return violations;
}

// --- (c) the protected resource ------------------------------------------------------

/**
 * An acknowledged write is a write the resource accepted: its writer was told
 * "ok" and may consider the work done. It is lost when a later accepted write
 * was computed from an older version than the one it produced (a lost
 * update): the value no longer contains it. The replay also checks the
 * resource's own rule: a request is accepted exactly when its token is at
 * least the highest seen so far for that name (reads count as seen when the
 * resource fences reads).
 */
export function checkResource(history: History): Violation[] {
  const violations: Violation[] = [];
  const grants = new Map(history.grants.map((g) => [g.id, g]));
  const who = (op: ResourceOp): string => {
    const grant = grants.get(op.grantId);
    return `${grant ? describeGrant(grant, history) : `grant #${op.grantId}`}${op.zombie ? " (after its lease ran out)" : ""}`;
  };
  const state = new Map<string, { highest: bigint | undefined; writes: ResourceOp[] }>();
  for (const op of history.resourceOps) {
    let s = state.get(op.name);
    if (!s) {
      s = { highest: undefined, writes: [] };
      state.set(op.name, s);
    }
    const checked = op.kind === "write" || history.resourceFencesReads;
    const shouldAccept = !checked || s.highest === undefined || op.fencingToken >= s.highest;
    if (op.accepted !== shouldAccept) {
      violations.push({
        invariant: "resource",
        message: `lock ${JSON.stringify(op.name)}: the resource ${op.accepted ? "accepted" : "rejected"} a ${op.kind} with token ${op.fencingToken} by ${who(op)} at ${at(op.at, history)} (highest seen ${s.highest ?? "none"})`,
      });
    }
    if (!op.accepted) continue;
    if (checked && (s.highest === undefined || op.fencingToken > s.highest)) s.highest = op.fencingToken;
    if (op.kind !== "write") continue;
    const version = s.writes.length;
    if (op.version < version) {
      const lost = s.writes.slice(op.version);
      violations.push({
        invariant: "resource",
        message:
          `lock ${JSON.stringify(op.name)}: acknowledged write${lost.length > 1 ? "s" : ""} lost: ${lost.map((w) => `${who(w)} at ${at(w.at, history)}`).join("; ")} ` +
          `overwritten by ${who(op)} at ${at(op.at, history)}, computed from version ${op.version} of ${version}`,
      });
    } else if (op.version > version) {
      violations.push({
        invariant: "resource",
        message: `lock ${JSON.stringify(op.name)}: ${who(op)} wrote from version ${op.version}, which never existed (current ${version})`,
      });
    }
    s.writes.push(op);
  }
  return violations;
}

// --- (d) leftover keys ---------------------------------------------------------------

/** The kind of a key under the prefix: lock, fence, queue, or whatever else follows the prefix. */
export function keyKind(prefix: string, key: string): string {
  const rest = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  const colon = rest.indexOf(":");
  return colon < 0 ? rest : rest.slice(0, colon);
}

export function checkLeftovers(scan: KeyScan, o: Pick<CheckOptions, "maxTtlMs">): Violation[] {
  const violations: Violation[] = [];
  for (const { instance, key, pttlMs } of scan.keys) {
    const kind = keyKind(scan.prefix, key);
    if (pttlMs === -1) {
      violations.push({
        invariant: "leftovers",
        message: `instance ${instance}: key ${JSON.stringify(key)} has no expiry`,
      });
    } else if (kind === "lock" && scan.quietForMs >= o.maxTtlMs) {
      violations.push({
        invariant: "leftovers",
        message: `instance ${instance}: lock key ${JSON.stringify(key)} remains ${Math.round(scan.quietForMs)} ms after the last sidecar stopped (max TTL ${o.maxTtlMs} ms; ${pttlMs} ms left)`,
      });
    }
  }
  return violations;
}

// --- (e) liveness ------------------------------------------------------------------------

export type Reachability = "up" | "down" | "unknown";

interface Effect {
  sidecar: number | undefined;
  instance: number | undefined;
  state: "down" | "unknown" | "sidecar-out";
  from: number;
  to: number;
}

/**
 * What a fault means for reachability. Down: an instance process killed or
 * stopped, a link blackholed or resetting, or delayed so that a round trip
 * exceeds 1.5x the instance timeout. Unknown: a link delayed near the
 * timeout, and every instance or link for `settleMs` after it heals
 * (reconnects, circuit probes, replies still in flight); a restarted
 * instance stays unknown for the quarantine on top. A stopped sidecar is
 * out of the question until `settleMs` after it resumes.
 */
export function faultEffects(
  fault: FaultRecord,
  o: Pick<CheckOptions, "instanceTimeoutMs" | "settleMs" | "quarantineMs">,
): Effect[] {
  const effects: Effect[] = [];
  const healed = fault.endAt;
  // While it was being applied, everything it touches is unknown.
  if (fault.beganAt !== undefined && fault.beganAt < fault.startAt) {
    for (const instance of fault.instances)
      effects.push({ sidecar: undefined, instance, state: "unknown", from: fault.beganAt, to: fault.startAt });
    for (const { sidecar, instance } of fault.links)
      effects.push({ sidecar, instance, state: "unknown", from: fault.beganAt, to: fault.startAt });
    for (const sidecar of fault.kind === "sidecar-pause" ? fault.sidecars : [])
      effects.push({ sidecar, instance: undefined, state: "sidecar-out", from: fault.beganAt, to: fault.startAt });
  }
  switch (fault.kind) {
    case "instance-kill-restart":
    case "instance-kill-delayed-restart":
      for (const instance of fault.instances) {
        const restarted = fault.restartedAt ?? healed;
        effects.push({ sidecar: undefined, instance, state: "down", from: fault.startAt, to: healed });
        effects.push({
          sidecar: undefined,
          instance,
          state: "unknown",
          from: healed,
          to: restarted + o.settleMs + o.quarantineMs,
        });
      }
      break;
    case "rolling-restart":
      // Each instance in turn, killed and started again at once: unknown until its quarantine is surely over.
      for (const step of fault.restarts ?? []) {
        effects.push({
          sidecar: undefined,
          instance: step.instance,
          state: "unknown",
          from: step.beganAt,
          to: step.restartedAt + o.settleMs + o.quarantineMs,
        });
      }
      break;
    case "instance-pause-minority":
    case "instance-pause-majority":
    case "instance-pause-all":
      for (const instance of fault.instances) {
        effects.push({ sidecar: undefined, instance, state: "down", from: fault.startAt, to: healed });
        effects.push({ sidecar: undefined, instance, state: "unknown", from: healed, to: healed + o.settleMs });
      }
      break;
    case "sidecar-pause":
      for (const sidecar of fault.sidecars)
        effects.push({
          sidecar,
          instance: undefined,
          state: "sidecar-out",
          from: fault.startAt,
          to: healed + o.settleMs,
        });
      break;
    case "link-delay":
    case "link-blackhole":
    case "link-reset":
    case "sidecar-partition": {
      let state: "down" | "unknown" = "down";
      if (fault.kind === "link-delay") {
        const roundTripMs = 2 * (fault.delayMs ?? 0);
        state = roundTripMs >= 1.5 * o.instanceTimeoutMs ? "down" : "unknown";
        // A small delay leaves the link up, apart from a moment around the switch.
        if (roundTripMs <= o.instanceTimeoutMs / 3) {
          for (const { sidecar, instance } of fault.links) {
            effects.push({
              sidecar,
              instance,
              state: "unknown",
              from: fault.startAt - 1,
              to: fault.startAt + roundTripMs + 1,
            });
            effects.push({ sidecar, instance, state: "unknown", from: healed, to: healed + roundTripMs + 1 });
          }
          break;
        }
      }
      for (const { sidecar, instance } of fault.links) {
        effects.push({ sidecar, instance, state, from: fault.startAt, to: healed });
        effects.push({ sidecar, instance, state: "unknown", from: healed, to: healed + o.settleMs });
      }
      break;
    }
  }
  return effects;
}

/** Instance `instance` as seen from sidecar `sidecar` throughout [from, to]. */
export function reachability(
  effects: readonly Effect[],
  sidecar: number,
  instance: number,
  from: number,
  to: number,
): Reachability {
  const relevant = effects.filter(
    (e) => (e.sidecar === undefined || e.sidecar === sidecar) && e.instance === instance && e.from < to && e.to > from,
  );
  if (relevant.length === 0) return "up";
  // Down throughout: the union of down spans covers [from, to].
  const downs = relevant.filter((e) => e.state === "down").sort((a, b) => a.from - b.from);
  let covered = from;
  for (const d of downs) {
    if (d.from > covered) break;
    covered = Math.max(covered, d.to);
  }
  return covered >= to ? "down" : "unknown";
}

export type ProbeClass = "healthy" | "outage" | "unclear" | "sidecar-out" | "overloaded";

/**
 * Which rule a probe is judged by: healthy (a majority reachable throughout),
 * outage (a majority unreachable throughout), unclear (in between, or around
 * a fault's edges), sidecar-out (its sidecar was stopped), overloaded (the
 * machine was starved meanwhile: no latency bound applies).
 */
export function classifyProbe(
  probe: ProbeRecord,
  effects: readonly Effect[],
  instanceCount: number,
  stalls: readonly Interval[] = [],
): ProbeClass {
  if (stalls.some((s) => s.start < probe.endedAt && s.end > probe.sentAt)) return "overloaded";
  const out = effects.some(
    (e) => e.state === "sidecar-out" && e.sidecar === probe.sidecar && e.from < probe.endedAt && e.to > probe.sentAt,
  );
  if (out) return "sidecar-out";
  const quorum = Math.floor(instanceCount / 2) + 1;
  let up = 0;
  let down = 0;
  for (let i = 0; i < instanceCount; i++) {
    const r = reachability(effects, probe.sidecar, i, probe.sentAt, probe.endedAt);
    if (r === "up") up++;
    else if (r === "down") down++;
  }
  if (up >= quorum) return "healthy";
  if (down > instanceCount - quorum) return "outage";
  return "unclear";
}

const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const CANCELLED = 1;

export function checkLiveness(
  history: History,
  o: Pick<CheckOptions, "instanceTimeoutMs" | "settleMs" | "quarantineMs" | "healthyBoundMs" | "outageBoundMs">,
): Violation[] {
  const effects = [...history.faults.flatMap((f) => faultEffects(f, o)), ...crashEffects(history)];
  const violations: Violation[] = history.crashes.map((c) => ({
    invariant: "liveness",
    message: `sidecar ${c.sidecar} exited at ${at(c.at, history)} (${c.how}) without being asked to; its last output:\n${c.output.trim().split("\n").slice(-15).join("\n")}`,
  }));
  for (const probe of history.probes) {
    const tookMs = probe.endedAt - probe.sentAt;
    const what = `probe ${probe.name} via sidecar ${probe.sidecar} at ${at(probe.sentAt, history)} (wait ${probe.waitMs} ms)`;
    const outcome = probe.outcome === "error" ? `status ${probe.code ?? "?"}` : probe.outcome;
    const fail = (message: string): void =>
      void violations.push({ invariant: "liveness", message: `${what}: ${message}` });
    switch (classifyProbe(probe, effects, history.instanceCount, history.stalls)) {
      case "healthy":
        if (probe.outcome !== "acquired")
          fail(`a majority was reachable, but the answer was ${outcome} after ${tookMs.toFixed(0)} ms`);
        else if (tookMs > probe.waitMs + o.healthyBoundMs)
          fail(`granted only after ${tookMs.toFixed(0)} ms with a majority reachable`);
        break;
      case "outage":
        if (probe.outcome !== "error" || probe.code !== UNAVAILABLE)
          fail(`a majority was unreachable, but the answer was ${outcome} (expected UNAVAILABLE)`);
        else if (tookMs > probe.waitMs + o.outageBoundMs)
          fail(`UNAVAILABLE only after ${tookMs.toFixed(0)} ms: not failing fast`);
        break;
      case "unclear":
        if (probe.outcome === "error" && (probe.code === DEADLINE_EXCEEDED || probe.code === CANCELLED))
          fail(`no answer before the deadline (${outcome}) with the sidecar running`);
        break;
      case "sidecar-out":
      case "overloaded":
        break;
    }
  }
  return violations;
}

/** A crashed sidecar is out from its crash on (the crash itself is the violation). */
function crashEffects(history: History): Effect[] {
  return history.crashes.map((c) => ({
    sidecar: c.sidecar,
    instance: undefined,
    state: "sidecar-out",
    from: c.at - 1000,
    to: Number.POSITIVE_INFINITY,
  }));
}

/** How many probes fell in each class (for the summary). */
export function probeClasses(
  history: History,
  o: Pick<CheckOptions, "instanceTimeoutMs" | "settleMs" | "quarantineMs">,
): Record<ProbeClass, number> {
  const effects = [...history.faults.flatMap((f) => faultEffects(f, o)), ...crashEffects(history)];
  const counts: Record<ProbeClass, number> = { healthy: 0, outage: 0, unclear: 0, "sidecar-out": 0, overloaded: 0 };
  for (const probe of history.probes) counts[classifyProbe(probe, effects, history.instanceCount, history.stalls)]++;
  return counts;
}

// --- helpers -----------------------------------------------------------------------------

function byName(grants: readonly GrantRecord[]): Map<string, GrantRecord[]> {
  const map = new Map<string, GrantRecord[]>();
  for (const grant of grants) {
    let list = map.get(grant.name);
    if (!list) {
      list = [];
      map.set(grant.name, list);
    }
    list.push(grant);
  }
  return map;
}
