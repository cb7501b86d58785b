import { spawn, type ChildProcess } from "node:child_process";
import { LockClient } from "../../src/client/lock-client.ts";
import { freePort } from "../../test/support/redis-servers.ts";

/** Sidecars as separate processes (`node src/main.ts`), as deployed. */
export interface SidecarProcess {
  address: string;
  pid: number;
  client: LockClient;
  stop(): Promise<void>;
}

export async function startSidecarProcess(env: Record<string, string>): Promise<SidecarProcess> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(process.execPath, ["src/main.ts"], {
    env: { ...process.env, LOCK_LISTEN: address, LOCK_ADMIN_LISTEN: "127.0.0.1:0", LOCK_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const client = new LockClient(address);
  await client.waitForReady(15_000);
  return {
    address,
    pid: proc.pid!,
    client,
    stop: async () => {
      client.close();
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}
