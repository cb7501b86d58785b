/**
 * Scale benchmark (issue 6): one sidecar process keeps many leases alive,
 * each through its own KeepAlive stream, against 3 local redis-server
 * instances.
 *
 *   npm run bench:scale -- [--leases 10000] [--seconds 300] [--ttl 10s]
 *
 * Prints: leases lost, the sidecar's CPU (share of one core, averaged over
 * the steady window), script calls per renewal round per instance, renewals
 * per second, and the sidecar's RSS.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Redis } from "ioredis";
import type { KeepAliveResponse } from "../gen/lock/v1/lock_pb.ts";
import { parseDurationMs } from "../src/config/duration.ts";
import { RedisServers } from "../test/support/redis-servers.ts";
import { cpuSeconds, rssMiB } from "./support/proc-stats.ts";
import { startSidecarProcess } from "./support/sidecar-processes.ts";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
};
const leaseCount = Number(arg("leases", "10000"));
const seconds = Number(arg("seconds", "300"));
const ttlMs = parseDurationMs(arg("ttl", "10s")) ?? 10_000;

const servers = await RedisServers.start(3, ["--maxclients", "10000"]);
const admin = servers.urls.map((url) => new Redis(url));
const sidecar = await startSidecarProcess({
  LOCK_INSTANCES: servers.urls.join(","),
  LOCK_KEY_PREFIX: "scale:",
  LOCK_MAX_TTL: "1m",
  LOCK_HEALTH_INTERVAL: "5s",
  LOCK_MAX_LEASES: String(leaseCount * 2),
  LOCK_MAX_STREAMS: String(leaseCount * 2),
});
let exitCode = 0;
try {
  console.log(`${leaseCount} leases, TTL ${ttlMs} ms, ${seconds} s, 3 redis-server instances, node ${process.version}`);
  const acquireStart = performance.now();
  const leases: { name: string; leaseId: string }[] = [];
  for (let at = 0; at < leaseCount; at += 50) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(50, leaseCount - at) }, (_, i) => acquireWithRetries(`lease-${at + i}`)),
    );
    leases.push(...chunk);
  }
  console.log(`acquired ${leases.length} in ${((performance.now() - acquireStart) / 1000).toFixed(1)} s`);

  let renewals = 0;
  let lost = 0;
  const lostReasons = new Map<string, number>();
  const streams = leases.map((lease) => {
    const stream = sidecar.client.keepAlive({ name: lease.name, leaseId: lease.leaseId, ttl: durationFromMs(ttlMs) });
    stream.on("data", (_m: KeepAliveResponse) => renewals++);
    stream.on("error", (e: { code?: number; details?: string }) => {
      if (e.code === 1) return; // our own cancel at the end
      lost++;
      const reason = `${e.code}: ${(e.details ?? "").replace(/"[^"]*"/g, "NAME")}`;
      lostReasons.set(reason, (lostReasons.get(reason) ?? 0) + 1);
    });
    return stream;
  });

  // Let every stream open and settle, then measure a steady window.
  await new Promise((r) => setTimeout(r, Math.min(10_000, ttlMs)));
  const cpuStart = cpuSeconds(sidecar.pid);
  const callsStart = await scriptCalls();
  const renewalsStart = renewals;
  const windowStart = performance.now();
  let peakRss = rssMiB(sidecar.pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMiB(sidecar.pid))), 1000);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(sampler);
  const windowSeconds = (performance.now() - windowStart) / 1000;
  const cpu = (cpuSeconds(sidecar.pid) - cpuStart) / windowSeconds;
  const calls = (await scriptCalls()) - callsStart;
  const windowRenewals = renewals - renewalsStart;
  const rounds = windowSeconds / (ttlMs / 3 / 1000);
  const held = await Promise.all(admin.map(async (r) => (await r.dbsize())));

  console.log(`steady window:            ${windowSeconds.toFixed(0)} s`);
  console.log(`leases lost:              ${lost}${lost ? ` ${JSON.stringify([...lostReasons])}` : ""}`);
  console.log(`renewals/s:               ${(windowRenewals / windowSeconds).toFixed(0)} (expected ~${(leaseCount / (ttlMs / 3 / 1000)).toFixed(0)})`);
  console.log(`sidecar CPU:              ${(cpu * 100).toFixed(1)}% of one core (average)`);
  console.log(`script calls per instance: ${(calls / admin.length / windowSeconds).toFixed(1)}/s, ${(calls / admin.length / rounds).toFixed(1)} per renewal round (round = TTL/3)`);
  console.log(`keys per renewal call:    ${(windowRenewals / Math.max(1, calls / admin.length)).toFixed(0)}`);
  console.log(`sidecar RSS:              ${rssMiB(sidecar.pid).toFixed(0)} MiB now, ${peakRss.toFixed(0)} MiB peak`);
  console.log(`keys on instances:        ${held.join(", ")}`);
  if (lost > 0) exitCode = 1;
  streams.forEach((s) => s.cancel());
} finally {
  await sidecar.stop();
  admin.forEach((r) => r.disconnect());
  await servers.stopAll();
}
process.exit(exitCode);

/** Setting up is not what is measured: an acquire that timed out on a busy machine is tried again. */
async function acquireWithRetries(name: string): Promise<{ name: string; leaseId: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      // Long enough to outlast acquiring all of them; KeepAlive then renews with the TTL under test.
      const r = await sidecar.client.acquire({ name, ttl: durationFromMs(60_000) });
      if (r.acquired) return { name, leaseId: r.lease!.leaseId };
      throw new Error(`${name} held by someone else`);
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

/** Script calls clients sent, summed over the instances. */
async function scriptCalls(): Promise<number> {
  const infos = await Promise.all(admin.map((r) => r.info("commandstats")));
  return infos.reduce((sum, info) => sum + [...info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)].reduce((s, m) => s + Number(m[2]), 0), 0);
}
