import { formatDurationMs, parseDurationMs } from "../../src/config/duration.ts";
import { clientInterval, INVARIANTS, keyKind } from "./checker.ts";
import { calmTailMs, DEFAULT_CAMPAIGN, runCampaign, type CampaignConfig, type CampaignResult } from "./campaign.ts";
import { FAULT_KINDS, type FaultKind } from "./history.ts";
import { laterGrants } from "./told-end-check.ts";
import { rollingRestartWindow, unavailableWithin } from "./unavailable-time.ts";

const USAGE = `Usage: npm run chaos -- [--seed N] [--duration 30s] [options]

Runs a seeded chaos campaign against real redis-server instances and sidecar
processes (through fault proxies), then checks the recorded history. Exits 0
when no invariant was broken, 1 on any violation, 2 on bad arguments.

  --seed N              campaign seed (default: random, printed)
  --duration D          how long faults and clients run, e.g. 20s (default 30s)
  --quarantine on|off   LOCK_RESTART_QUARANTINE of the sidecars (default on)
  --instances N         redis-server instances (default ${DEFAULT_CAMPAIGN.instanceCount})
  --sidecars N          sidecar processes (default ${DEFAULT_CAMPAIGN.sidecarCount})
  --clients N           clients per sidecar (default ${DEFAULT_CAMPAIGN.clientsPerSidecar})
  --lanes N             fault schedules running side by side (default ${DEFAULT_CAMPAIGN.faultLanes})
  --frozen-owners N     owners that freeze while keeping a lease alive (default ${DEFAULT_CAMPAIGN.frozenOwners})
  --faults k1,k2        only these fault kinds (default all):
                        ${FAULT_KINDS.join(", ")}
  --open-with KIND      begin with a fault of this kind, e.g. rolling-restart
                        (then every seed has one; other faults are drawn as usual)
  --verbose             print each fault as it is injected`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function parseArgs(argv: readonly string[]): CampaignConfig & { verbose: boolean } {
  const config: CampaignConfig & { verbose: boolean } = {
    ...DEFAULT_CAMPAIGN,
    seed: Math.floor(Math.random() * 2 ** 31),
    durationMs: 30_000,
    verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const count = (min: number): number => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < min)
        throw new UsageError(`${flag}: ${JSON.stringify(v)} is not a whole number >= ${min}`);
      return Number(v);
    };
    switch (flag) {
      case "--seed": {
        const v = value();
        if (!/^-?\d+$/.test(v)) throw new UsageError(`--seed: ${JSON.stringify(v)} is not an integer`);
        config.seed = Number(v);
        break;
      }
      case "--duration": {
        const v = value();
        const ms = parseDurationMs(v);
        if (ms === undefined || ms < 1000)
          throw new UsageError(`--duration: ${JSON.stringify(v)} is not a duration of at least 1s (like 20s or 2m)`);
        config.durationMs = ms;
        break;
      }
      case "--quarantine": {
        const v = value();
        if (v !== "on" && v !== "off") throw new UsageError(`--quarantine: ${JSON.stringify(v)} is not on or off`);
        config.restartQuarantine = v;
        break;
      }
      case "--instances":
        config.instanceCount = count(1);
        break;
      case "--sidecars":
        config.sidecarCount = count(1);
        break;
      case "--clients":
        config.clientsPerSidecar = count(0);
        break;
      case "--lanes":
        config.faultLanes = count(0);
        break;
      case "--frozen-owners":
        config.frozenOwners = count(0);
        break;
      case "--faults": {
        const kinds = value()
          .split(",")
          .map((k) => k.trim())
          .filter((k) => k !== "");
        const unknown = kinds.filter((k) => !FAULT_KINDS.includes(k as FaultKind));
        if (unknown.length > 0)
          throw new UsageError(`--faults: unknown kind ${unknown.join(", ")} (known: ${FAULT_KINDS.join(", ")})`);
        config.faultKinds = kinds as FaultKind[];
        break;
      }
      case "--open-with": {
        const v = value();
        if (!FAULT_KINDS.includes(v as FaultKind))
          throw new UsageError(`--open-with: unknown kind ${v} (known: ${FAULT_KINDS.join(", ")})`);
        config.openingFault = v as FaultKind;
        break;
      }
      case "--verbose":
        config.verbose = true;
        break;
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return config;
}

/** The campaign's report: what ran, what was injected, what broke, and how to run it again. */
export function formatSummary(result: CampaignResult): string {
  const { config, history, violations, operations } = result;
  const lines: string[] = [];
  lines.push(
    `chaos campaign: seed ${config.seed}, duration ${formatDurationMs(config.durationMs)}, quarantine ${config.restartQuarantine}, ` +
      `${config.instanceCount} instances, ${config.sidecarCount} sidecars x ${config.clientsPerSidecar} clients, ${config.lockNames} lock names, ` +
      `TTL ${config.ttlMinMs}-${config.ttlMaxMs} ms, max TTL ${formatDurationMs(config.maxTtlMs)}, ` +
      `${config.frozenOwners} frozen owners (TTL ${config.frozenTtlMs[0]}-${config.frozenTtlMs[1]} ms), client pings ${config.clientPingIntervalMs} ms + ${config.clientPingTimeoutMs} ms`,
  );
  lines.push(`elapsed: ${(result.elapsedMs / 1000).toFixed(1)} s`);
  lines.push("operations:");
  const groups = new Map<string, [string, number][]>();
  for (const [key, n] of Object.entries(operations).sort(([a], [b]) => a.localeCompare(b))) {
    const [group, outcome] = key.includes(":")
      ? [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)]
      : [key, ""];
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group)!.push([outcome, n]);
  }
  for (const [group, entries] of groups) {
    const total = entries.find(([o]) => o === "")?.[1];
    const parts = entries.filter(([o]) => o !== "").map(([o, n]) => `${o} ${n}`);
    lines.push(`  ${group}${total === undefined ? "" : ` ${total}`}${parts.length ? ` (${parts.join(", ")})` : ""}`);
  }
  const perName = new Map<string, number>();
  for (const g of history.grants) perName.set(g.name, (perName.get(g.name) ?? 0) + 1);
  lines.push(
    `grants: ${history.grants.length} (${[...perName]
      .sort()
      .map(([n, c]) => `${n} ${c}`)
      .join(", ")})`,
  );
  lines.push(
    `resource requests: ${history.resourceOps.length} (accepted writes ${history.resourceOps.filter((o) => o.kind === "write" && o.accepted).length})`,
  );
  const planned = result.plan.length;
  lines.push(
    `faults injected: ${history.faults.length} of ${planned} planned (none in the last ${(calmTailMs(config) / 1000).toFixed(1)} s)`,
  );
  for (const kind of FAULT_KINDS) if (result.faults[kind]) lines.push(`  ${kind} ${result.faults[kind]}`);
  lines.push(...rollingRestartLines(result));
  lines.push(...frozenOwnerLines(result));
  const p = result.probes;
  lines.push(
    `liveness probes: ${history.probes.length} (majority reachable ${p.healthy}, majority unreachable ${p.outage}, unclear ${p.unclear}, sidecar stopped ${p["sidecar-out"]}, machine starved ${p.overloaded})`,
  );
  if (history.stalls.length > 0) {
    const lengths = history.stalls.map((s) => s.end - s.start);
    lines.push(
      `harness stalls (event loop late by > 50 ms: machine starved): ${history.stalls.length}, ` +
        `${(lengths.reduce((a, b) => a + b, 0) / 1000).toFixed(1)} s in all, longest ${Math.max(...lengths).toFixed(0)} ms`,
    );
  }
  if (history.keyScan) {
    const kinds = new Map<string, number>();
    for (const k of history.keyScan.keys)
      kinds.set(keyKind(history.keyScan.prefix, k.key), (kinds.get(keyKind(history.keyScan.prefix, k.key)) ?? 0) + 1);
    lines.push(
      `keys left ${(history.keyScan.quietForMs / 1000).toFixed(1)} s after the sidecars stopped: ${history.keyScan.keys.length}` +
        `${
          kinds.size
            ? ` (${[...kinds]
                .sort()
                .map(([k, n]) => `${k} ${n}`)
                .join(", ")})`
            : ""
        }`,
    );
  }
  const byInvariant = INVARIANTS.map((inv) => `${inv} ${violations.filter((v) => v.invariant === inv).length}`).join(
    ", ",
  );
  lines.push(`violations: ${violations.length} (${byInvariant})`);
  // A few of each kind, so one invariant's many reports do not hide another's.
  const shown = 10;
  for (const invariant of INVARIANTS) {
    const of = violations.filter((v) => v.invariant === invariant);
    for (const v of of.slice(0, shown)) lines.push(`  [${v.invariant}] ${v.message}`);
    if (of.length > shown) lines.push(`  ... and ${of.length - shown} more ${invariant} violations`);
  }
  lines.push(violations.length === 0 ? "result: PASS" : "result: FAIL");
  lines.push(`reproduce: npm run chaos -- ${reproduceArgs(config)}`);
  return lines.join("\n");
}

/** The arguments that run this campaign again. */
function reproduceArgs(config: CampaignResult["config"]): string {
  const args = [
    `--seed ${config.seed}`,
    `--duration ${formatDurationMs(config.durationMs)}`,
    `--quarantine ${config.restartQuarantine}`,
  ];
  if (config.faultKinds.length !== FAULT_KINDS.length) args.push(`--faults ${config.faultKinds.join(",")}`);
  if (config.openingFault) args.push(`--open-with ${config.openingFault}`);
  return args.join(" ");
}

/** Each rolling restart: its order and gaps, the long holds that spanned it, and how long calls answered UNAVAILABLE. */
function rollingRestartLines(result: CampaignResult): string[] {
  const { history } = result;
  const lines: string[] = [];
  for (const record of history.faults) {
    const window = record.kind === "rolling-restart" ? rollingRestartWindow(record) : undefined;
    if (!window || !record.restarts) continue;
    const steps = record.restarts;
    const gaps = steps.map((step, i) => ((steps[i + 1]?.beganAt ?? record.endAt) - step.restartedAt) / 1000);
    // A hold spans it when its owner relied on it from before the first kill until after the last restart.
    const lastRestart = steps[steps.length - 1]!.restartedAt;
    const holds = (record.holderGrants ?? []).flatMap((id) => history.grants.filter((g) => g.id === id));
    const spanning = holds.filter((g) => {
      const held = clientInterval(g);
      return held.start <= window.start && held.end >= lastRestart;
    });
    // The challengers may have a holder's lock only once its lease is gone.
    const challenged = history.grants.filter((g) => g.client.startsWith(`r${record.id}c`)).length;
    const { ms, calls } = unavailableWithin(history, window);
    // Other faults meanwhile (links, sidecars) add their own failures to the figure.
    const others = history.faults.filter(
      (f) => f !== record && (f.beganAt ?? f.startAt) < window.end && (f.restartedAt ?? f.endAt) > window.start,
    ).length;
    lines.push(
      `rolling restart #${record.id}: instances ${steps.map((s) => s.instance).join(", ")} at t+${((window.start - history.origin) / 1000).toFixed(1)} s, ` +
        `gaps ${gaps.map((g) => g.toFixed(1)).join(", ")} s${steps.length < record.instances.length ? ` (cut short: ${steps.length} of ${record.instances.length})` : ""}; ` +
        `KeepAlive holds through it ${spanning.length} of ${holds.length} taken, challengers granted ${challenged} times`,
      `  UNAVAILABLE ${(ms / 1000).toFixed(1)} s of ${((window.end - window.start) / 1000).toFixed(1)} s (first kill to one gap after the last restart; ${calls} failing calls; ${others === 0 ? "no other fault" : `${others} other faults`} meanwhile)`,
    );
  }
  return lines;
}

/** What the frozen owners went through, and how close the next holder of their lock came to the end they were told. */
function frozenOwnerLines(result: CampaignResult): string[] {
  const { history } = result;
  const episodes = history.frozenOwners;
  if (episodes.length === 0) return result.config.frozenOwners > 0 ? ["frozen-owner episodes: 0"] : [];
  const freezes = episodes.map((e) => e.thawedAt - e.frozenAt);
  const dropped = episodes.filter((e) => e.endCode === 14).length;
  // How long after the told end the next holder had the lock (negative: before it).
  const margins = episodes.flatMap((e) => {
    const next = laterGrants(history, e)[0];
    return next && e.askedAt === undefined ? [next.receivedAt - e.toldUntil] : [];
  });
  const early = margins.filter((m) => m < 0).length;
  const soonest = Math.min(...margins);
  return [
    `frozen-owner episodes: ${episodes.length} (connection dropped while frozen ${dropped}, ` +
      `frozen ${(Math.min(...freezes) / 1000).toFixed(2)}-${(Math.max(...freezes) / 1000).toFixed(2)} s, ` +
      `${episodes.reduce((n, e) => n + e.readAfterThaw, 0)} KeepAlive messages read after thaw)`,
    margins.length === 0
      ? "  no other client took a frozen owner's lock afterwards"
      : `  next holder of the lock (${margins.length} episodes): ${early} before the told end; ` +
        `soonest ${Math.abs(soonest).toFixed(1)} ms ${soonest < 0 ? "before" : "after"} the told end`,
  ];
}

/** Runs the command; returns the exit code. */
export async function runChaosCli(argv: readonly string[], out: (line: string) => void = console.log): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    out(USAGE);
    return 0;
  }
  let config;
  try {
    config = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    out(`chaos: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  const { verbose, ...campaign } = config;
  out(
    `chaos: seed ${campaign.seed}, running for ${formatDurationMs(campaign.durationMs)} (plus start-up, a max TTL of quiet and the key scan)...`,
  );
  const result = await runCampaign(verbose ? { ...campaign, log: out } : campaign);
  out(formatSummary(result));
  return result.violations.length === 0 ? 0 : 1;
}
