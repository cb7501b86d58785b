import { spawn, type ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import type { Authority, Issued } from "./certificates.ts";
import { freePort, waitForPort } from "./redis-servers.ts";

export interface TlsRedisOptions {
  /** The server's certificate (valid for 127.0.0.1) and the CA it and its clients chain to. */
  server: Issued;
  ca: Authority;
  /** tls-auth-clients: whether clients must present a certificate signed by `ca`. */
  requireClientCertificate: boolean;
  /** Password of the default user (requirepass): the test's own admin access. */
  adminPassword: string;
}

/**
 * redis-server processes that speak only TLS (`--port 0`, `--tls-port`) on
 * free loopback ports, with a password on the default user. Admin clients
 * (for ACL set-up and for looking at keys) connect as that user over TLS.
 */
export class TlsRedisServers {
  readonly ports: number[];
  readonly #options: TlsRedisOptions;
  readonly #procs: ChildProcess[] = [];
  readonly #admins: Redis[] = [];

  private constructor(ports: number[], options: TlsRedisOptions) {
    this.ports = ports;
    this.#options = options;
  }

  static async start(count: number, options: TlsRedisOptions): Promise<TlsRedisServers> {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await freePort());
    const servers = new TlsRedisServers(ports, options);
    await Promise.all(ports.map((port) => servers.#startOne(port)));
    return servers;
  }

  /** rediss:// URLs with the given user and password (omit the user for the default one). */
  urls(user: string, password: string): string[] {
    return this.ports.map(
      (port) => `rediss://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    );
  }

  /** An admin connection to instance `index` (the default user, over TLS with a client certificate). */
  admin(index: number, clientCertificate: Issued): Redis {
    const { ca, adminPassword } = this.#options;
    const client = new Redis({
      host: "127.0.0.1",
      port: this.ports[index]!,
      password: adminPassword,
      tls: { ca: ca.cert, cert: clientCertificate.cert, key: clientCertificate.key },
      maxRetriesPerRequest: 1,
    });
    client.on("error", () => undefined);
    this.#admins.push(client);
    return client;
  }

  async stopAll(): Promise<void> {
    this.#admins.splice(0).forEach((a) => a.disconnect());
    await Promise.all(
      this.#procs.map(
        (proc) =>
          new Promise<void>((resolve) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
            proc.once("exit", () => resolve());
            proc.kill("SIGKILL");
          }),
      ),
    );
  }

  async #startOne(port: number): Promise<void> {
    const { server, ca, requireClientCertificate, adminPassword } = this.#options;
    const proc = spawn(
      "redis-server",
      [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        server.certFile,
        "--tls-key-file",
        server.keyFile,
        "--tls-ca-cert-file",
        ca.certFile,
        "--tls-auth-clients",
        requireClientCertificate ? "yes" : "no",
        "--requirepass",
        adminPassword,
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.#procs.push(proc);
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code) => reject(new Error(`redis-server (TLS) on ${port} exited (${code}): ${stderr}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPort(port, 10_000), exited]);
  }
}
