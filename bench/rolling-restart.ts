/**
 * Rolling restart (issue 13): 3 redis-server instances and one sidecar with
 * default settings (restart quarantine on, LOCK_MAX_TTL 5 min); workers take
 * and return leases on a few names all along while each instance in turn is
 * killed and comes back empty at once, `--gap` apart.
 *
 *   npm run bench:rolling-restart -- [--gap 15s] [--ttl 5s] [--names 3]
 *
 * Prints, for the quarantine on (witnessed bounds) and off: calls, grants,
 * the time calls answered UNAVAILABLE (union of their spans, and the number
 * of wall-clock seconds with at least one), and overlaps / token
 * regressions (both must be 0 with the quarantine on).
 */
import { parseDurationMs } from "../src/config/duration.ts";
import { RedisServers } from "../test/support/redis-servers.ts";
import { rollingRestart } from "../test/support/rolling-restart.ts";
import { runSidecar, testOptions } from "../test/support/sidecar-fixture.ts";
import { DEFAULT_OPTIONS } from "../src/config/options.ts";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
};
const gapMs = parseDurationMs(arg("gap", "15s")) ?? 15_000;
const ttlMs = parseDurationMs(arg("ttl", "5s")) ?? 5_000;
const names = Number(arg("names", "3"));

for (const quarantine of ["on", "off"] as const) {
  const servers = await RedisServers.start(3);
  // The production defaults, but for loopback ports and the quarantine under test.
  const running = await runSidecar(
    testOptions({
      ...DEFAULT_OPTIONS,
      listen: "127.0.0.1:0",
      adminListen: "127.0.0.1:0",
      keyPrefix: "rolling:",
      instances: servers.urls,
      restartQuarantine: quarantine,
    }),
  );
  try {
    const r = await rollingRestart(running.client, servers, {
      names,
      leaseTtlMs: ttlMs,
      holdMs: Math.round(ttlMs / 10),
      gapMs,
      instances: 3,
    });
    console.log(
      `quarantine ${quarantine.padEnd(3)}  ${r.durationSeconds.toFixed(0)} s run, ${r.calls} calls, ${r.grants} grants, ` +
        `UNAVAILABLE: ${r.unavailableCalls} calls covering ${r.unavailableSeconds.toFixed(2)} s (${r.failingSeconds} failing seconds), ` +
        `overlaps ${r.overlaps}, token regressions ${r.tokenRegressions}`,
    );
    for (const detail of r.overlapDetails) console.log(`  overlap: ${detail}`);
  } finally {
    await running.stop();
    await servers.stopAll();
  }
}
