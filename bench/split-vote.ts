/**
 * Split-vote benchmark (issue 12 item 2): how often one waiting Acquire
 * calls the instances while a foreign holder's key sits on {A, C}.
 *
 *   npm run bench:split-vote -- [--seconds 5]
 *
 * Two cases on 3 local redis-server instances and one sidecar process with
 * the default retry settings:
 * - all up: A and C answer "held", B grants; a normal wait;
 * - C down: A answers "held", B grants, C fails. No majority holds the
 *   lock, yet the holder keeps it until its key on A expires.
 * Acquire calls to B are counted by B's fencing counter (B grants every
 * attempt: the lock is free there); script calls and commands are read from
 * B's INFO (an attempt that B granted is rolled back there: two scripts).
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Redis } from "ioredis";
import { RedisServers } from "../test/support/redis-servers.ts";
import { startSidecarProcess } from "./support/sidecar-processes.ts";
import { fmt, printTable } from "./support/stats.ts";

const args = process.argv.slice(2);
const option = (flag: string): string => (args.includes(flag) ? (args[args.indexOf(flag) + 1] ?? "") : "");
const seconds = Number(option("--seconds")) || 5;
const PREFIX = "split-bench:";

/** What instance B has done so far. */
async function countsOf(b: Redis, name: string): Promise<{ fence: number; scripts: number; commands: number }> {
  const stats = await b.info("commandstats");
  const scripts = [...stats.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)].reduce(
    (sum, m) => sum + Number(m[2]),
    0,
  );
  const commands = Number(/^total_commands_processed:(\d+)/m.exec(await b.info("stats"))?.[1] ?? Number.NaN);
  return { fence: Number((await b.get(`${PREFIX}fence:${name}`)) ?? 0), scripts, commands };
}

const servers = await RedisServers.start(3);
const admin = servers.urls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }).on("error", () => undefined));
const sidecar = await startSidecarProcess({
  LOCK_INSTANCES: servers.urls.join(","),
  LOCK_HEALTH_INTERVAL: "60s",
  LOCK_KEY_PREFIX: PREFIX,
});
try {
  const rows: string[][] = [];
  for (const [label, cDown] of [
    ["held on {A, C}, all up", false],
    ["held on {A, C}, C down (split vote)", true],
  ] as const) {
    const name = cDown ? "split" : "held";
    const holdMs = (seconds + 5) * 1000;
    await admin[0]!.set(`${PREFIX}lock:${name}`, "foreign-holder", "PX", holdMs);
    await admin[2]!.set(`${PREFIX}lock:${name}`, "foreign-holder", "PX", holdMs);
    // A counter that exists counts up by one per grant (a missing one starts from the clock).
    await admin[1]!.set(`${PREFIX}fence:${name}`, "1000");
    if (cDown) await servers.kill(2);
    const before = await countsOf(admin[1]!, name);
    const startedAt = performance.now();
    const result = await sidecar.client.acquire({
      name,
      ttl: durationFromMs(10_000),
      wait: durationFromMs(seconds * 1000),
    });
    const elapsedS = (performance.now() - startedAt) / 1000;
    const after = await countsOf(admin[1]!, name);
    if (result.acquired) throw new Error(`${label}: the waiter was granted a lock held elsewhere`);
    const perSecond = (n: number): string => fmt(n / elapsedS, 1);
    // Two INFO calls and a GET of ours are counted in between.
    rows.push([
      label,
      fmt(elapsedS, 1),
      perSecond(after.fence - before.fence),
      perSecond(after.scripts - before.scripts),
      perSecond(after.commands - before.commands - 3),
    ]);
  }
  console.log(
    `One Acquire waiting ${seconds} s (LOCK_RETRY_DELAY 100ms, LOCK_RETRY_JITTER 100ms, LOCK_INSTANCE_TIMEOUT 50ms)\n`,
  );
  printTable(["case", "seconds", "acquire calls/s to B", "script calls/s to B", "commands/s to B"], rows);
} finally {
  await sidecar.stop();
  admin.forEach((r) => r.disconnect());
  await servers.stopAll();
}
