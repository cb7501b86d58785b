/**
 * Contention benchmark (issue 3): node-redlock against the sidecar, side by
 * side on the same 3 local redis-server instances, plus a floor (a no-op
 * gRPC call on the same server setup) and the sidecar on its embedded
 * in-memory instances: the sidecar and gRPC alone, without any Redis I/O,
 * which bounds what any change on the Redis side could gain on this machine.
 *
 *   npm run bench:contention -- [--seconds 4] [--warmup 3] [--only contended] [--cases sidecar]
 *
 * --only and --cases keep the scenarios and cases whose label contains the
 * given text (for quick comparisons; the full run is the reference).
 *
 * Scenarios: uncontended (distinct names, 1 and 64 workers) and contended
 * (16 workers on one name, holding ~2 ms each, through one sidecar process
 * or spread over four). Prints throughput, acquire latency, handoff latency
 * (release call to the next holder's grant), utilization (fraction of time
 * the lock was held), the longest wait against a FIFO ideal, how evenly
 * grants spread over workers, and Redis commands per lock cycle.
 */
import { credentials, loadPackageDefinition, type Client, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { Redis } from "ioredis";
import Redlock from "redlock";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { RedisServers } from "../test/support/redis-servers.ts";
import { startSidecarProcess, type SidecarProcess } from "./support/sidecar-processes.ts";
import { fmt, percentile, printTable } from "./support/stats.ts";

const args = process.argv.slice(2);
const option = (flag: string): string => (args.includes(flag) ? (args[args.indexOf(flag) + 1] ?? "") : "");
const seconds = Number(option("--seconds")) || 4;
// Each case first runs untimed, so that every case is measured with the
// sidecar and the client compiled (V8 needs thousands of calls), not only
// the cases that happen to run late.
const warmupSeconds = option("--warmup") === "" ? 3 : Number(option("--warmup"));
if (!Number.isFinite(warmupSeconds) || warmupSeconds < 0) throw new Error(`--warmup: ${JSON.stringify(option("--warmup"))} is not a number of seconds`);
const onlyScenario = option("--only");
const onlyCases = option("--cases");
const HOLD_MS = 2;
const TTL_MS = 10_000;
/** Commands that never run inside the lock scripts: what clients sent (see commandCount). */
const CLIENT_COMMANDS = ["evalsha", "eval", "evalsha_ro", "eval_ro", "ping", "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "script", "info"];

/** A lock implementation under test: acquire resolves with a handle, or undefined when not acquired. */
interface LockSystem {
  acquire(name: string, worker: number): Promise<unknown>;
  release(handle: unknown, worker: number): Promise<void>;
  /** Which sidecar serves a worker (handoffs between sidecars are reported apart). */
  sidecarOf?(worker: number): number;
}

interface Scenario {
  label: string;
  workers: number;
  contended: boolean;
}

interface Result {
  cycles: number;
  elapsedMs: number;
  acquireMs: number[];
  handoffMs: number[];
  /** Handoffs where the next holder came through the releaser's sidecar. */
  sameHandoffMs: number[];
  /** Handoffs where the next holder came through another sidecar than the releaser. */
  crossHandoffMs: number[];
  heldMs: number;
  longestWaitMs: number;
  grantsPerWorker: number[];
  commands: number;
  /** Calls that failed (timeouts under load); the cycle was retried. */
  errors: number;
}

const servers = await RedisServers.start(3);
const admin = servers.urls.map((url) => new Redis(url));
const sidecars: SidecarProcess[] = [];
try {
  const env = { LOCK_INSTANCES: servers.urls.join(","), LOCK_HEALTH_INTERVAL: "60s", LOCK_KEY_PREFIX: "bench:" };
  for (let i = 0; i < 4; i++) sidecars.push(await startSidecarProcess(env));
  // The same sidecar on its embedded in-memory instances: what the sidecar
  // and gRPC cost on this machine with no instance I/O at all.
  const embedded = await startSidecarProcess({ LOCK_INSTANCES: "", LOCK_HEALTH_INTERVAL: "60s", LOCK_LOG_LEVEL: "error" });
  sidecars.push(embedded);
  const health = sidecars.map((s) => healthClient(s.address));

  const redlock = (retryDelay: number, retryJitter: number): LockSystem => {
    const clients = servers.urls.map((url) => new Redis(url));
    const lock = new Redlock(clients, retryDelay === 200 ? {} : { retryDelay, retryJitter });
    return {
      acquire: async (name) => {
        try {
          return await lock.acquire([`redlock-bench:${name}`], TTL_MS);
        } catch {
          return undefined; // retries exhausted: try again, the wait goes on
        }
      },
      release: async (handle) => {
        await (handle as { release(): Promise<unknown> }).release().catch(() => undefined);
      },
    };
  };
  const sidecar = (serving: readonly SidecarProcess[]): LockSystem => ({
    sidecarOf: (worker) => worker % serving.length,
    acquire: async (name, worker) => {
      const client = serving[worker % serving.length]!.client;
      const res = await client.acquire({ name, ttl: durationFromMs(TTL_MS), wait: durationFromMs(30_000) });
      return res.acquired ? { client, name, leaseId: res.lease!.leaseId } : undefined;
    },
    release: async (handle) => {
      const h = handle as { client: SidecarProcess["client"]; name: string; leaseId: string };
      await h.client.release({ name: h.name, leaseId: h.leaseId });
    },
  });
  const floor: LockSystem = {
    acquire: async (_name, worker) => {
      await health[worker % 1]!.check();
      return true;
    },
    release: async (_handle, worker) => {
      await health[worker % 1]!.check();
    },
  };

  const systems: [string, LockSystem, "lock" | "no-redis lock" | "no-op"][] = [
    ["node-redlock (default: 200ms retry)", redlock(200, 200), "lock"],
    ["node-redlock (10ms retry)", redlock(10, 10), "lock"],
    ["sidecar x1", sidecar(sidecars.slice(0, 1)), "lock"],
    ["sidecar x4", sidecar(sidecars.slice(0, 4)), "lock"],
    ["sidecar x1 without Redis (embedded)", sidecar([embedded]), "no-redis lock"],
    ["floor: no-op gRPC x1", floor, "no-op"],
  ];
  const scenarios: Scenario[] = [
    { label: "uncontended, 1 worker", workers: 1, contended: false },
    { label: "uncontended, 64 workers", workers: 64, contended: false },
    { label: "contended, 16 workers", workers: 16, contended: true },
  ];

  let floorRoundTripMs: number | undefined;
  const holdMs: number[] = [];
  console.log(`3 redis-server instances, ${seconds}s per case after ${warmupSeconds}s of warm-up, hold ${HOLD_MS}ms when contended, node ${process.version}\n`);
  for (const scenario of scenarios.filter((s) => s.label.includes(onlyScenario))) {
    console.log(`## ${scenario.label}`);
    const rows: string[][] = [];
    for (const [label, system, kind] of systems) {
      if ((scenario.contended && kind === "no-op") || !label.includes(onlyCases)) continue;
      if (warmupSeconds > 0) await run(system, scenario, warmupSeconds);
      const r = await run(system, scenario, seconds);
      if (system === floor && scenario.workers === 1) floorRoundTripMs = percentile(r.acquireMs, 50);
      if (scenario.contended && system.sidecarOf && kind === "lock") holdMs.push(r.heldMs / Math.max(1, r.cycles));
      const perSec = (r.cycles / r.elapsedMs) * 1000;
      const meanCycleMs = r.elapsedMs / Math.max(1, r.cycles);
      const fifoIdealMs = (scenario.workers - 1) * meanCycleMs;
      const grants = r.grantsPerWorker;
      rows.push([
        label,
        fmt(perSec, 0),
        fmt(percentile(r.acquireMs, 50)),
        fmt(percentile(r.acquireMs, 99)),
        scenario.contended ? fmt(percentile(r.handoffMs, 50)) : "-",
        scenario.contended ? fmt(percentile(r.handoffMs, 99)) : "-",
        scenario.contended && system.sidecarOf && r.crossHandoffMs.length > 0
          ? `${fmt(percentile(r.sameHandoffMs, 50))} / ${fmt(percentile(r.crossHandoffMs, 50))} (${Math.round((100 * r.crossHandoffMs.length) / r.handoffMs.length)}%)`
          : "-",
        scenario.contended ? fmt(r.heldMs / r.elapsedMs) : "-",
        fmt(r.longestWaitMs, 1),
        scenario.contended ? fmt(r.longestWaitMs / fifoIdealMs) : "-",
        `${Math.min(...grants)}/${Math.max(...grants)}`,
        kind === "lock" ? fmt(r.commands / Math.max(1, r.cycles)) : "-",
        String(r.errors),
      ]);
    }
    printTable(
      ["case", "cycles/s", "acq p50 ms", "acq p99 ms", "handoff p50", "handoff p99", "p50 same / other sidecar (share)", "util", "longest wait ms", "wait/FIFO", "grants min/max", "cmds/cycle", "errors"],
      rows,
    );
    if (scenario.contended && floorRoundTripMs !== undefined && holdMs.length > 0) {
      // Between two holders, the release must reach a sidecar and the grant come back:
      // one gRPC round trip at least, whatever the sidecar does in between. The floor's
      // round trip is measured back to back; a release follows a hold during which the
      // processes sleep, and waking them costs more (the embedded case shows how much).
      const hold = holdMs.reduce((a, b) => a + b, 0) / holdMs.length;
      console.log(`ceiling for any sidecar: mean hold ${fmt(hold)} ms / (hold + one back-to-back no-op gRPC round trip ${fmt(floorRoundTripMs)} ms) = util ${fmt(hold / (hold + floorRoundTripMs))}`);
    }
    console.log("");
  }
  health.forEach((h) => h.close());
} finally {
  await Promise.all(sidecars.map((s) => s.stop()));
  admin.forEach((r) => r.disconnect());
  await servers.stopAll();
}
process.exit(0);

async function run(system: LockSystem, scenario: Scenario, seconds: number): Promise<Result> {
  const acquireMs: number[] = [];
  const handoffMs: number[] = [];
  const sameHandoffMs: number[] = [];
  const crossHandoffMs: number[] = [];
  let releasedBy = -1;
  const grantsPerWorker = new Array<number>(scenario.workers).fill(0);
  let heldMs = 0;
  let longestWaitMs = 0;
  let cycles = 0;
  let releaseStartedAt: number | undefined;
  let errors = 0;
  const before = await commandCount();
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: scenario.workers }, async (_, worker) => {
      const name = scenario.contended ? "contended" : `uncontended-${worker}`;
      while (performance.now() < end) {
        const askedAt = performance.now();
        let handle: unknown;
        while (handle === undefined && performance.now() < end + 5000) {
          handle = await system.acquire(name, worker).catch(() => {
            errors++;
            return undefined;
          });
        }
        if (handle === undefined) break;
        const grantedAt = performance.now();
        const waited = grantedAt - askedAt;
        acquireMs.push(waited);
        longestWaitMs = Math.max(longestWaitMs, waited);
        if (scenario.contended && releaseStartedAt !== undefined) {
          handoffMs.push(grantedAt - releaseStartedAt);
          if (system.sidecarOf) (system.sidecarOf(worker) === system.sidecarOf(releasedBy) ? sameHandoffMs : crossHandoffMs).push(grantedAt - releaseStartedAt);
          releaseStartedAt = undefined;
        }
        if (scenario.contended) await new Promise((r) => setTimeout(r, HOLD_MS));
        const releasingAt = performance.now();
        heldMs += releasingAt - grantedAt;
        if (scenario.contended) {
          releaseStartedAt = releasingAt;
          releasedBy = worker;
        }
        await system.release(handle, worker).catch(() => errors++);
        grantsPerWorker[worker]!++;
        cycles++;
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  const commands = (await commandCount()) - before - admin.length; // minus the INFO calls themselves
  return { cycles, elapsedMs, acquireMs, handoffMs, sameHandoffMs, crossHandoffMs, heldMs, longestWaitMs, grantsPerWorker, commands, errors };
}

/**
 * Commands clients sent to the instances. Redis counts the commands a script
 * runs as well, so only commands that never run inside these scripts count:
 * script calls, pings and (un)subscriptions.
 */
async function commandCount(): Promise<number> {
  const infos = await Promise.all(admin.map((r) => r.info("commandstats")));
  let total = 0;
  for (const info of infos) {
    for (const match of info.matchAll(/^cmdstat_([a-z_|]+):calls=(\d+)/gm)) if (CLIENT_COMMANDS.includes(match[1]!)) total += Number(match[2]);
  }
  return total;
}

function healthClient(address: string): { check(): Promise<void>; close(): void } {
  const pkg = loadPackageDefinition(loadSync(healthProtoPath)) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client } } };
  };
  const client = new pkg.grpc.health.v1.Health(address, credentials.createInsecure()) as Client & {
    check(req: object, cb: (e: ServiceError | null) => void): void;
  };
  return {
    check: () => new Promise((resolve, reject) => client.check({ service: "" }, (e) => (e ? reject(e) : resolve()))),
    close: () => client.close(),
  };
}
