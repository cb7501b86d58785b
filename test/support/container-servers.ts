import { existsSync } from "node:fs";
import { Redis } from "ioredis";
import { GenericContainer, getContainerRuntimeClient, Wait, type StartedTestContainer } from "testcontainers";
import { freePort } from "./redis-servers.ts";

/** The public Dragonfly image; CI sets LOCK_TEST_IMAGE to a local stand-in. */
export const DEFAULT_TEST_IMAGE = "docker.dragonflydb.io/dragonflydb/dragonfly:latest";

export function testImage(): string {
  return process.env["LOCK_TEST_IMAGE"] || DEFAULT_TEST_IMAGE;
}

/**
 * Redis-protocol instances in containers (testcontainers), one per index,
 * with the same surface as RedisServers: each published on a fixed port of
 * 127.0.0.1 only, so that a restarted instance comes back at the same URL.
 * The image is LOCK_TEST_IMAGE (default: Dragonfly); it is started as
 * `dragonfly --port 6379 ...extraArgs`, which the Dragonfly image and CI's
 * redis-server stand-in both accept.
 *
 * Faults: kill (SIGKILL, then the container is removed: the instance forgets
 * everything, as a crash without persistence does), startOne (a new
 * container on the same port), pause/resume (the cgroup freezer).
 */
export class ContainerServers {
  readonly mode = "container";
  readonly ports: number[];
  readonly image: string;
  readonly #containers: (StartedTestContainer | undefined)[];
  readonly #extraArgs: string[];

  private constructor(ports: number[], image: string, extraArgs: string[]) {
    this.ports = ports;
    this.image = image;
    this.#containers = ports.map(() => undefined);
    this.#extraArgs = extraArgs;
  }

  static async start(count: number, extraArgs: string[] = [], image = testImage()): Promise<ContainerServers> {
    // No Ryuk (its image cannot be pulled without a registry): containers
    // are removed by stopAll, and CI removes any left by label.
    process.env["TESTCONTAINERS_RYUK_DISABLED"] ??= "true";
    if (!process.env["DOCKER_HOST"] && existsSync("/run/podman/podman.sock"))
      process.env["DOCKER_HOST"] = "unix:///run/podman/podman.sock";
    process.env["TESTCONTAINERS_HOST_OVERRIDE"] ??= "127.0.0.1";
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await freePort());
    const servers = new ContainerServers(ports, image, extraArgs);
    try {
      await Promise.all(ports.map((_, i) => servers.#startFirst(i)));
    } catch (error) {
      await servers.stopAll();
      throw error;
    }
    return servers;
  }

  get urls(): string[] {
    return this.ports.map((port) => `redis://127.0.0.1:${port}`);
  }

  /** The first start: a port taken meanwhile (another test worker) is traded for a new one. */
  async #startFirst(index: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOne(index);
      } catch (error) {
        if (attempt >= 5 || !/address already in use/.test(String(error))) throw error;
        this.ports[index] = await freePort();
      }
    }
  }

  /** Starts instance `index` (again, empty) on its port and waits until it answers PING. */
  async startOne(index: number): Promise<void> {
    await this.kill(index);
    const port = this.ports[index]!;
    const container = await new LoopbackContainer(this.image)
      .withLoopbackPort(6379, port)
      .withCommand(["dragonfly", "--port", "6379", ...this.#extraArgs])
      .withLabels({ "redlock-sidecar.test": "instance" })
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections|listening on port/i))
      .withStartupTimeout(30_000)
      .start();
    this.#containers[index] = container;
    await waitForPing(port, 10_000);
  }

  /** SIGKILL, then the container is removed: nothing survives. */
  async kill(index: number): Promise<void> {
    const container = this.#containers[index];
    if (!container) return;
    this.#containers[index] = undefined;
    const raw = (await getContainerRuntimeClient()).container.getById(container.getId());
    await raw.remove({ force: true, v: true });
  }

  async pause(index: number): Promise<void> {
    const container = this.#containers[index];
    if (container) await (await getContainerRuntimeClient()).container.getById(container.getId()).pause();
  }

  async resume(index: number): Promise<void> {
    const container = this.#containers[index];
    if (container) await (await getContainerRuntimeClient()).container.getById(container.getId()).unpause();
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.ports.map((_, i) => this.kill(i)));
  }
}

/** A GenericContainer whose port is published on 127.0.0.1 only. */
class LoopbackContainer extends GenericContainer {
  withLoopbackPort(containerPort: number, hostPort: number): this {
    this.withExposedPorts({ container: containerPort, host: hostPort });
    this.hostConfig.PortBindings = {
      ...this.hostConfig.PortBindings,
      [`${containerPort}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }],
    };
    return this;
  }
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const redis = new Redis({
      host: "127.0.0.1",
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1000,
    });
    redis.on("error", () => undefined);
    try {
      await redis.connect();
      if ((await redis.ping()) === "PONG") return;
    } catch {
      // not yet
    } finally {
      redis.disconnect();
    }
    if (Date.now() > until) throw new Error(`instance on 127.0.0.1:${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
