/**
 * What tracing costs (issue 16): uncontended Acquire+Release cycles through
 * one sidecar process (`node src/main.ts`) on 3 local redis-server instances,
 *   - before: the build before tracing existed (git archive of --before);
 *   - unset: this build with no OTEL_* variable, as most deployments run;
 *   - sampled out: tracing on, OTEL_TRACES_SAMPLER=always_off (spans made, none recorded);
 *   - on: tracing on, every call sampled, spans batched and sent with OTLP
 *     (http/protobuf) to a collector stand-in in this process that accepts them.
 *
 *   npm run bench:tracing -- [--seconds 3] [--rounds 3] [--workers 1,16] [--before <rev>|none]
 *
 * The modes run in turns, round after round, so a machine whose load drifts
 * weighs on each alike. Prints cycles/s (median over rounds, and the range),
 * the p50 and p99 of one cycle, and each mode against the build before.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { RedisServers } from "../test/support/redis-servers.ts";
import { type SidecarProcess, startSidecarProcess } from "./support/sidecar-processes.ts";
import { fmt, percentile, printTable } from "./support/stats.ts";

const args = process.argv.slice(2);
const option = (flag: string, fallback: string): string =>
  args.includes(flag) ? (args[args.indexOf(flag) + 1] ?? fallback) : fallback;
const seconds = Number(option("--seconds", "3"));
const rounds = Number(option("--rounds", "3"));
const workerCounts = option("--workers", "1,16").split(",").map(Number);
const beforeRev = option("--before", "") || defaultBefore();
if (!(seconds > 0) || !(rounds > 0) || workerCounts.some((w) => !(w > 0)))
  throw new Error("--seconds, --rounds and --workers take positive numbers");
const TTL = durationFromMs(10_000);

/** The parent of the commit that started tracing (it added src/util/detached.ts). */
function defaultBefore(): string {
  const added = execFileSync("git", ["log", "--diff-filter=A", "--format=%H", "--", "src/util/detached.ts"], {
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .at(-1);
  return added ? `${added}^` : "none";
}

/** The sources of `rev` in a temporary directory, on this checkout's node_modules. */
function checkOut(rev: string): { script: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "tracing-bench-"));
  const archive = execFileSync("git", ["archive", rev, "src", "gen", "package.json"]);
  execFileSync("tar", ["-x", "-C", dir], { input: archive });
  symlinkSync(resolve("node_modules"), join(dir, "node_modules"));
  return { script: join(dir, "src/main.ts"), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Accepts OTLP exports as a collector would, and counts them. */
async function startCollector(): Promise<{ port: number; requests: number; bytes: number; close(): void }> {
  const stats = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (stats.bytes += chunk.length));
    req.on("end", () => {
      stats.requests++;
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return Object.assign(stats, { port, close: () => server.close() });
}

interface Sample {
  cycles: number;
  elapsedMs: number;
  cycleMs: number[];
  /** Cycles that failed (an instance too slow on a loaded machine): counted, and the worker goes on. */
  errors: number;
}

/** `workers` loops of Acquire then Release on names of their own, for `ms`. */
async function measure(sidecar: SidecarProcess, workers: number, ms: number, tag: string): Promise<Sample> {
  const cycleMs: number[] = [];
  let errors = 0;
  const start = performance.now();
  const until = start + ms;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      let name = `${tag}-${w}`;
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          const { lease } = await sidecar.client.acquire({ name, ttl: TTL });
          if (!lease) throw new Error(`${name} was not free: the cycles are meant to be uncontended`);
          await sidecar.client.release({ name, leaseId: lease.leaseId });
          cycleMs.push(performance.now() - t0);
        } catch {
          // A lease left behind runs out; the next cycle takes another name.
          errors++;
          name = `${tag}-${w}-${errors}`;
        }
      }
    }),
  );
  return { cycles: cycleMs.length, elapsedMs: performance.now() - start, cycleMs, errors };
}

// Whatever this shell exports must not turn tracing on in the modes meant without it.
for (const key of Object.keys(process.env)) if (key.startsWith("OTEL_")) delete process.env[key];

const servers = await RedisServers.start(3);
const collector = await startCollector();
const before = beforeRev === "none" ? undefined : checkOut(beforeRev);
const sidecars: { mode: string; sidecar: SidecarProcess }[] = [];
try {
  // A generous instance timeout: on a small loaded machine the default 50 ms fails calls, which is not what this measures.
  const base = {
    LOCK_INSTANCES: servers.urls.join(","),
    LOCK_HEALTH_INTERVAL: "60s",
    LOCK_INSTANCE_TIMEOUT: "250ms",
    LOCK_MIN_TTL: "500ms",
  };
  const endpoint = `http://127.0.0.1:${collector.port}`;
  const modes: [string, Record<string, string>, (string | undefined)?][] = [
    ["before", { ...base, LOCK_KEY_PREFIX: "before:" }, before?.script],
    ["unset", { ...base, LOCK_KEY_PREFIX: "unset:" }],
    [
      "sampled out",
      { ...base, LOCK_KEY_PREFIX: "out:", OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: "always_off" },
    ],
    ["on", { ...base, LOCK_KEY_PREFIX: "on:", OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }],
  ];
  for (const [mode, env, script] of modes) {
    if (mode === "before" && script === undefined) continue;
    sidecars.push({ mode, sidecar: await startSidecarProcess(env, script) });
  }
  console.log(
    `tracing cost: ${sidecars.map((s) => s.mode).join(", ")}; before = ${beforeRev}; ` +
      `${rounds} rounds of ${seconds} s per mode and worker count; node ${process.version}`,
  );
  // Untimed first, so every mode is measured compiled (V8 needs thousands of calls).
  for (const { sidecar } of sidecars) await measure(sidecar, 4, 2000, "warm");

  const rows: string[][] = [];
  for (const workers of workerCounts) {
    const samples = new Map<string, Sample[]>(sidecars.map((s) => [s.mode, []]));
    for (let round = 0; round < rounds; round++)
      for (const { mode, sidecar } of sidecars)
        samples.get(mode)!.push(await measure(sidecar, workers, seconds * 1000, `r${round}`));
    const rate = (s: Sample): number => (s.cycles * 1000) / s.elapsedMs;
    const median = (mode: string): number => percentile(samples.get(mode)!.map(rate), 50);
    const baseline = samples.has("before") ? median("before") : Number.NaN;
    for (const { mode } of sidecars) {
      const rates = samples.get(mode)!.map(rate);
      const all = samples.get(mode)!.flatMap((s) => s.cycleMs);
      rows.push([
        mode,
        String(workers),
        fmt(median(mode), 0),
        `${fmt(Math.min(...rates), 0)}..${fmt(Math.max(...rates), 0)}`,
        fmt(percentile(all, 50), 3),
        fmt(percentile(all, 99), 3),
        Number.isNaN(baseline) ? "-" : `${fmt((100 * median(mode)) / baseline - 100, 1)} %`,
        String(samples.get(mode)!.reduce((sum, s) => sum + s.errors, 0)),
      ]);
    }
  }
  printTable(["mode", "workers", "cycles/s", "range over rounds", "p50 ms", "p99 ms", "vs before", "errors"], rows);
  console.log(
    `collector: ${collector.requests} OTLP requests, ${fmt(collector.bytes / 1e6, 1)} MB (the "on" mode's spans)`,
  );
} finally {
  for (const { sidecar } of sidecars) await sidecar.stop();
  collector.close();
  before?.remove();
  await servers.stopAll();
}
