import { DEFAULT_OPTIONS, type SidecarOptions } from "../../src/config/options.ts";
import { LockClient } from "../../src/client/lock-client.ts";
import { startSidecar, type Sidecar, type SidecarDeps } from "../../src/sidecar.ts";

/** Options for tests: loopback on a free port, short retries, short health interval. */
export function testOptions(overrides: Partial<SidecarOptions> = {}): SidecarOptions {
  return {
    ...DEFAULT_OPTIONS,
    listen: "127.0.0.1:0",
    adminListen: "127.0.0.1:0",
    keyPrefix: `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}:`,
    // Generous for a loaded 2-core machine; tests about timeouts set their own.
    instanceTimeoutMs: 250,
    minTtlMs: 500,
    retryDelayMs: 20,
    retryJitterMs: 20,
    healthIntervalMs: 100,
    shutdownGraceMs: 2000,
    // Tests restart instances and use them at once; quarantine has its own tests.
    restartQuarantine: "off",
    ...overrides,
  };
}

export interface Running {
  sidecar: Sidecar;
  client: LockClient;
  stop(): Promise<void>;
}

/** A sidecar over real gRPC on 127.0.0.1:0 and a generated client connected to it. */
export async function runSidecar(options: SidecarOptions, deps: SidecarDeps = {}): Promise<Running> {
  const sidecar = await startSidecar(options, deps);
  const client = new LockClient(sidecar.address);
  await client.waitForReady(5000);
  return {
    sidecar,
    client,
    stop: async () => {
      client.close();
      await sidecar.stop();
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function ms(milliseconds: number): { seconds: bigint; nanos: number } {
  return { seconds: BigInt(Math.floor(milliseconds / 1000)), nanos: (milliseconds % 1000) * 1_000_000 };
}
