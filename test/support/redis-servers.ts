import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";

/**
 * Real redis-server processes on free loopback ports, for integration tests.
 * Each server runs without persistence, like a Dragonfly instance that
 * restarts empty. Faults: kill (SIGKILL), restart on the same port,
 * pause (SIGSTOP) and resume (SIGCONT).
 */
export class RedisServers {
  readonly ports: number[];
  readonly #procs: (ChildProcess | undefined)[];
  readonly #extraArgs: string[];

  private constructor(ports: number[], extraArgs: string[]) {
    this.ports = ports;
    this.#procs = ports.map(() => undefined);
    this.#extraArgs = extraArgs;
  }

  static async start(count: number, extraArgs: string[] = []): Promise<RedisServers> {
    const servers = new RedisServers([], extraArgs);
    for (let i = 0; i < count; i++) {
      servers.ports.push(await freePort());
      servers.#procs.push(undefined);
    }
    await Promise.all(servers.ports.map((_, i) => servers.startOne(i)));
    return servers;
  }

  get urls(): string[] {
    return this.ports.map((port) => `redis://127.0.0.1:${port}`);
  }

  /** Starts instance `index` (again) on its port and waits until it accepts connections. */
  async startOne(index: number): Promise<void> {
    const port = this.ports[index]!;
    const proc = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
        ...this.#extraArgs,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.#procs[index] = proc;
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code) => reject(new Error(`redis-server on ${port} exited (${code}): ${stderr}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPort(port, 10_000), exited]);
  }

  /** SIGKILL: the instance forgets everything, as a crash without persistence does. */
  async kill(index: number): Promise<void> {
    const proc = this.#procs[index];
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGCONT");
    proc.kill("SIGKILL");
    await gone;
    this.#procs[index] = undefined;
  }

  pause(index: number): void {
    this.#procs[index]?.kill("SIGSTOP");
  }

  resume(index: number): void {
    this.#procs[index]?.kill("SIGCONT");
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.ports.map((_, i) => this.kill(i)));
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`redis-server on ${port} did not start within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
