import { spawn, type ChildProcess } from "node:child_process";
import { LockClient } from "../../src/client/lock-client.ts";
import { freePort } from "../../test/support/redis-servers.ts";

/** Sidecars as separate processes (`node src/main.ts`), as deployed. */
export interface SidecarProcess {
  address: string;
  /** host:port of its admin listener (/metrics). */
  adminAddress: string;
  pid: number;
  client: LockClient;
  /** The value of each unlabelled sample in /metrics, by name. */
  metrics(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

/**
 * Starts `node src/main.ts` (or `script`, another build's) with `env`. For
 * profiling, BENCH_SIDECAR_FLAGS passes node flags (`--cpu-prof`,
 * `--trace-gc`, V8 heap flags such as `--max-semi-space-size=4`) to the
 * sidecar only, and BENCH_SIDECAR_STDOUT=1 shows its stdout (where
 * `--trace-gc` writes).
 */
export async function startSidecarProcess(
  env: Record<string, string>,
  script = "src/main.ts",
): Promise<SidecarProcess> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const adminAddress = `127.0.0.1:${await freePort()}`;
  const flags = process.env["BENCH_SIDECAR_FLAGS"]?.split(" ").filter((f) => f !== "") ?? [];
  const proc: ChildProcess = spawn(process.execPath, [...flags, script], {
    env: { ...process.env, LOCK_LISTEN: address, LOCK_ADMIN_LISTEN: adminAddress, LOCK_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", process.env["BENCH_SIDECAR_STDOUT"] ? "inherit" : "ignore", "inherit"],
  });
  const client = new LockClient(address);
  await client.waitForReady(15_000);
  return {
    address,
    adminAddress,
    pid: proc.pid!,
    client,
    metrics: async () => samples(await (await fetch(`http://${adminAddress}/metrics`)).text()),
    stop: async () => {
      client.close();
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match) values.set(match[1]! + (match[2] ?? ""), Number(match[3]));
  }
  return values;
}
