/**
 * Scale benchmark (issues 6 and 17): one sidecar process keeps many leases
 * alive, each through its own KeepAlive stream (or, with --many, many leases
 * on each KeepAliveMany stream), against 3 local redis-server instances,
 * with this client on the same machine.
 *
 *   npm run bench:scale -- [--leases 10000] [--seconds 300] [--ttl 10s]
 *       steady: acquire, open every stream at once, measure a steady window
 *   npm run bench:scale -- --burst [--leases 10000] [--runs 3]
 *       acquire with the TTL under test, then open every stream at once
 *   npm run bench:scale -- --until-refused [--step 5000] [--leases 100000] [--seconds 300]
 *       add leases step by step until the sidecar refuses, then hold them
 *   add --many [--per-stream 10000] to any of them: the leases are kept over
 *       KeepAliveMany streams of at most that many leases each
 *
 * Prints: leases lost, refusals, the sidecar's CPU (share of one core),
 * renewal lateness (p99, from the sidecar's metric and from the gaps between
 * messages), RSS growth per lease and the heap behind it.
 */
import { loadavg } from "node:os";
import { parseDurationMs } from "../src/config/duration.ts";
import { RedisServers } from "../test/support/redis-servers.ts";
import { KeptLeases, sleep } from "./support/kept-leases.ts";
import { cpuSeconds, residentByKind, rssMiB } from "./support/proc-stats.ts";
import { startSidecarProcess, type SidecarProcess } from "./support/sidecar-processes.ts";
import { histogramPercentile } from "./support/stats.ts";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
};
const mode = args.includes("--burst") ? "burst" : args.includes("--until-refused") ? "until-refused" : "steady";
const leaseCount = Number(arg("leases", mode === "until-refused" ? "100000" : "10000"));
const seconds = Number(arg("seconds", mode === "burst" ? "20" : "300"));
const ttlMs = parseDurationMs(arg("ttl", "10s")) ?? 10_000;
/** With --many: leases per KeepAliveMany stream; without: one KeepAlive stream per lease. */
const perStream = args.includes("--many") ? Number(arg("per-stream", "10000")) : undefined;
const LATENESS = "lock_renewal_lateness_seconds";

const servers = await RedisServers.start(3, ["--maxclients", "10000"]);
const sidecarEnv = (extra: Record<string, string>): Record<string, string> => ({
  LOCK_INSTANCES: servers.urls.join(","),
  LOCK_KEY_PREFIX: "scale:",
  LOCK_MAX_TTL: "1m",
  LOCK_HEALTH_INTERVAL: "5s",
  ...extra,
});
let failed = false;
try {
  const keptBy = perStream === undefined ? "a KeepAlive stream each" : `KeepAliveMany, ${perStream} per stream`;
  console.log(
    `${mode}: ${leaseCount} leases (${keptBy}), TTL ${ttlMs} ms, node ${process.version}, load average ${loadAverage()}`,
  );
  if (mode === "burst") {
    for (let run = 1; run <= Number(arg("runs", "3")); run++) await burst(run);
  } else {
    await steady();
  }
} finally {
  await servers.stopAll();
}
process.exit(failed ? 1 : 0);

/** Acquire with the TTL under test, then open a stream for each at once: nothing may be lost. */
async function burst(run: number): Promise<void> {
  const sidecar = await startSidecarProcess(sidecarEnv(passThroughEnv()));
  try {
    const kept = new KeptLeases(sidecar.client, ttlMs, perStream);
    const started = performance.now();
    await kept.acquire(`burst${run}-`, 0, leaseCount, ttlMs, Number.POSITIVE_INFINITY, Number(arg("in-flight", "64")));
    const acquiredS = (performance.now() - started) / 1000;
    const cpuStart = cpuSeconds(sidecar.pid);
    const leastLeftS = kept.keepAll() / 1000;
    await sleep(seconds * 1000);
    const cpu = (cpuSeconds(sidecar.pid) - cpuStart) / seconds;
    // A stranger tries the first 200 names: none may be free.
    const { free, failed: strangerFailed } = await kept.takeable(kept.leases.slice(0, 200).map((l) => l.name));
    const gone = kept.lost + kept.expiredUnkept;
    console.log(
      `run ${run}: acquired ${kept.leases.length} in ${acquiredS.toFixed(1)} s (the oldest had ${leastLeftS.toFixed(1)} s left); after ${seconds} s: lost ${kept.lost} (${kept.lostWithTimeLeft} of them with 3 s or more left), ` +
        `expired unkept ${kept.expiredUnkept}, open ${kept.open}, refusals ${sum(kept.refusals)}, ` +
        `free to a stranger ${free}/200 (${strangerFailed} calls failed), sidecar CPU ${(cpu * 100).toFixed(0)}%`,
    );
    printMaps(kept);
    if (gone > 0 || free > 0) failed = true;
    kept.close();
  } finally {
    await sidecar.stop();
  }
}

/** Steady (all leases at once) or until refused (step by step): then a window in which nothing may be lost. */
async function steady(): Promise<void> {
  const limits =
    mode === "steady" ? { LOCK_MAX_LEASES: String(leaseCount * 2), LOCK_MAX_STREAMS: String(leaseCount * 2) } : {};
  const sidecar = await startSidecarProcess(sidecarEnv({ ...limits, ...passThroughEnv() }));
  try {
    await sleep(1000);
    const rssStart = rssMiB(sidecar.pid);
    const kept = new KeptLeases(sidecar.client, ttlMs, perStream);
    if (mode === "steady") {
      const started = performance.now();
      // As a client would: each lease kept alive as soon as it is acquired (in chunks of 1000).
      for (let from = 0; from < leaseCount; from += 1000) {
        await kept.acquire("lease-", from, Math.min(1000, leaseCount - from), ttlMs);
        kept.keepAll();
      }
      console.log(`acquired and kept ${kept.leases.length} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } else {
      await addUntilRefused(sidecar, kept);
    }
    // Let every stream open and settle, then measure a steady window.
    await sleep(Math.min(10_000, ttlMs));
    await measureWindow(sidecar, kept, rssStart);
    kept.close();
  } finally {
    await sidecar.stop();
  }
}

async function addUntilRefused(sidecar: SidecarProcess, kept: KeptLeases): Promise<void> {
  const step = Number(arg("step", "5000"));
  let before = await sidecar.metrics();
  let refused = false;
  for (let from = 0; from < leaseCount && !refused; from += step) {
    // Kept as acquired, 500 at a time; refused for 10 s in a row, the sidecar takes no more.
    for (let at = from; at < Math.min(from + step, leaseCount) && !refused; at += 500) {
      refused = (await kept.acquire("lease-", at, Math.min(500, leaseCount - at), ttlMs, 10_000)).refused;
      kept.keepAll();
    }
    await sleep(ttlMs / 2);
    const m = await sidecar.metrics();
    console.log(
      `  ${kept.leases.length} leases, ${kept.open} kept over ${kept.streams} streams, refusals ${sum(kept.refusals)}, lost ${kept.lost}, ` +
        `RSS ${rssMiB(sidecar.pid).toFixed(0)} MiB, heap ${((m.get("lock_overload_heap_ratio") ?? Number.NaN) * 100).toFixed(0)} % of its limit, lateness p99 ${fmtS(histogramPercentile(before, m, LATENESS, 99))}, load ${loadAverage()}`,
    );
    before = m;
  }
  console.log(
    `stopped at ${kept.leases.length} leases: ${refused ? "refused for 10 s in a row" : "all asked for were taken"}`,
  );
}

async function measureWindow(sidecar: SidecarProcess, kept: KeptLeases, rssStartMiB: number): Promise<void> {
  const cpuStart = cpuSeconds(sidecar.pid);
  const clientCpuStart = process.cpuUsage();
  const metricsStart = await sidecar.metrics();
  const renewalsStart = kept.renewals;
  const latenessStart = kept.lateness.snapshot();
  const lostStart = kept.lost;
  const windowStart = performance.now();
  let peakRss = rssMiB(sidecar.pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMiB(sidecar.pid))), 1000);
  await sleep(seconds * 1000);
  clearInterval(sampler);
  const windowS = (performance.now() - windowStart) / 1000;
  const cpu = (cpuSeconds(sidecar.pid) - cpuStart) / windowS;
  const clientCpu = process.cpuUsage(clientCpuStart);
  const m = await sidecar.metrics();
  const held = kept.open;
  const rss = rssMiB(sidecar.pid);
  const lateness = kept.lateness.since(latenessStart);
  const calls =
    total(m, "lock_instance_latency_seconds_count") - total(metricsStart, "lock_instance_latency_seconds_count");
  const mib = (name: string): string => `${((m.get(name) ?? Number.NaN) / 1048576).toFixed(0)} MiB`;

  console.log(
    `steady window:             ${windowS.toFixed(0)} s, ${held} leases kept over ${kept.streams} streams, load average ${loadAverage()}`,
  );
  console.log(
    `leases lost:               ${kept.lost} (${kept.lost - lostStart} in the window)${kept.lost ? ` ${JSON.stringify([...kept.lostReasons])}` : ""}`,
  );
  console.log(
    `refusals:                  ${sum(kept.refusals)}${kept.refusals.size ? ` ${JSON.stringify([...kept.refusals])}` : ""}`,
  );
  console.log(
    `renewals/s:                ${((kept.renewals - renewalsStart) / windowS).toFixed(0)} (expected ~${(held / (ttlMs / 3 / 1000)).toFixed(0)})`,
  );
  console.log(
    `sidecar CPU:               ${(cpu * 100).toFixed(1)}% of one core (bench client ${(((clientCpu.user + clientCpu.system) / 1e6 / windowS) * 100).toFixed(0)}%)`,
  );
  console.log(
    `renewal lateness p99:      ${fmtS(histogramPercentile(metricsStart, m, LATENESS, 99))}, p50 ${fmtS(histogramPercentile(metricsStart, m, LATENESS, 50))}, max ${fmtS(histogramPercentile(metricsStart, m, LATENESS, 100))} (sidecar metric, bucket bounds)`,
  );
  console.log(
    `message gap - ttl/3, p99:  ${lateness.percentile(99)} ms, p50 ${lateness.percentile(50)} ms, max ${lateness.percentile(100)} ms (client side, ${lateness.count} gaps)`,
  );
  console.log(`instance calls/s:          ${(calls / windowS).toFixed(1)} (all instances)`);
  if (perStream !== undefined) {
    console.log(
      `earlier expires_at:        ${kept.earlier} (by at most ${kept.earlierMaxMs.toFixed(0)} ms; the later end kept)`,
    );
  }
  console.log(
    `sidecar RSS:               ${rss.toFixed(0)} MiB now, ${peakRss.toFixed(0)} MiB peak, ${rssStartMiB.toFixed(0)} MiB before leases`,
  );
  console.log(`RSS growth per lease:      ${(((rss - rssStartMiB) * 1024) / Math.max(1, held)).toFixed(1)} KB`);
  const resident = residentByKind(sidecar.pid);
  console.log(
    `heap:                      ${mib("nodejs_heap_size_used_bytes")} used of ${mib("nodejs_heap_size_total_bytes")}, external ${mib("nodejs_external_memory_bytes")}`,
  );
  console.log(
    `resident by kind:          V8 heap pages ${resident.v8Pages.toFixed(0)} MiB, malloc ${resident.malloc.toFixed(0)} MiB, files ${resident.files.toFixed(0)} MiB`,
  );
  if (kept.lost > 0) failed = true;
}

/** LOCK_* settings given to the bench are passed on to the sidecar (e.g. LOCK_OVERLOAD_LAG). */
function passThroughEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("LOCK_")) as [string, string][]);
}

function printMaps(kept: KeptLeases): void {
  if (kept.lostReasons.size) console.log(`  lost: ${JSON.stringify([...kept.lostReasons])}`);
  if (kept.refusals.size) console.log(`  refusals: ${JSON.stringify([...kept.refusals])}`);
}

/** A metric summed over its labels. */
function total(samples: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [key, value] of samples) if (key === name || key.startsWith(`${name}{`)) sum += value;
  return sum;
}

function sum(map: Map<string, number>): number {
  return [...map.values()].reduce((a, b) => a + b, 0);
}

function fmtS(seconds: number): string {
  return Number.isFinite(seconds) ? `<= ${(seconds * 1000).toFixed(0)} ms` : "-";
}

function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}
