import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { LockClient } from "../../src/client/lock-client.ts";
import { freePort } from "../support/redis-servers.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * A sidecar as a separate process (`node src/main.ts`, configured by its
 * environment, as deployed), with the process faults the campaign needs:
 * SIGSTOP/SIGCONT. Its output (warn-level logs, and a crash's stack trace)
 * is kept, the last few kilobytes, for diagnosis; an exit that stop() or
 * kill() did not ask for is noted.
 */
export class SidecarProcess {
  readonly address: string;
  readonly client: LockClient;
  readonly #proc: ChildProcess;
  readonly #exited: Promise<void>;
  #output = "";
  #paused = false;
  #stopping = false;
  #unexpectedExit: { at: number; how: string } | undefined;

  private constructor(address: string, proc: ChildProcess, client: LockClient) {
    this.address = address;
    this.#proc = proc;
    this.client = client;
    this.#exited = new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once("exit", () => resolve());
    });
    void this.#exited.then(() => {
      if (!this.#stopping)
        this.#unexpectedExit = {
          at: performance.now(),
          how: proc.signalCode ? `signal ${proc.signalCode}` : `exit code ${proc.exitCode}`,
        };
    });
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-8000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
  }

  /**
   * Starts `node src/main.ts` on a free loopback port and waits until its
   * gRPC port answers. Start-up can take seconds on a busy machine: the port
   * is polled first, so the client does not sit in grpc-js's reconnect
   * backoff after early refusals.
   */
  static async start(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<SidecarProcess> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await SidecarProcess.#startOnce(env, readyTimeoutMs);
      } catch (error) {
        // A port found free a moment ago may be taken by another process first: try another.
        if (attempt >= 3 || !(error instanceof Error) || !error.message.includes("already in use")) throw error;
      }
    }
  }

  static async #startOnce(env: Record<string, string>, readyTimeoutMs: number): Promise<SidecarProcess> {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const proc = spawn(process.execPath, ["src/main.ts"], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOCK_LISTEN: address, LOCK_ADMIN_LISTEN: "127.0.0.1:0", LOCK_LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const sidecar = new SidecarProcess(address, proc, new LockClient(address));
    const died = sidecar.#exited.then(() => {
      throw new Error(
        `sidecar on ${address} exited during start-up (${proc.exitCode ?? proc.signalCode}): ${sidecar.#output}`,
      );
    });
    died.catch(() => undefined);
    try {
      const until = performance.now() + readyTimeoutMs;
      await Promise.race([waitForPort(port, until), died]);
      await Promise.race([sidecar.client.waitForReady(Math.max(1000, until - performance.now())), died]);
    } catch (error) {
      await sidecar.kill();
      throw error;
    }
    return sidecar;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get running(): boolean {
    return this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** The last few kilobytes of its logs and stderr. */
  outputTail(): string {
    return this.#output;
  }

  /** Set when the process exited without stop() or kill() asking it to. */
  get unexpectedExit(): { at: number; how: string } | undefined {
    return this.#unexpectedExit;
  }

  pause(): void {
    if (!this.running) return;
    this.#proc.kill("SIGSTOP");
    this.#paused = true;
  }

  resume(): void {
    if (!this.running) return;
    this.#proc.kill("SIGCONT");
    this.#paused = false;
  }

  /** SIGTERM (the sidecar releases what it holds), SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    this.client.close();
    if (!this.running) return;
    this.resume();
    this.#proc.kill("SIGTERM");
    const timer = setTimeout(() => this.#proc.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    this.#stopping = true;
    this.client.close();
    if (!this.running) return;
    this.#proc.kill("SIGKILL");
    await this.#exited;
  }
}

async function waitForPort(port: number, until: number): Promise<void> {
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (performance.now() > until)
      throw new Error(`nothing listens on 127.0.0.1:${port} yet: the sidecar did not start in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
