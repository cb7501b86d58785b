import { request } from "node:http";
import { RedisServers } from "./redis-servers.ts";

/**
 * Redis-protocol instances for integration tests, as processes
 * (RedisServers: redis-server on free loopback ports) or as containers
 * (ContainerServers: testcontainers, image LOCK_TEST_IMAGE, default
 * Dragonfly). The same surface either way.
 */
export interface InstanceServers {
  readonly mode: "process" | "container";
  readonly ports: number[];
  readonly urls: string[];
  startOne(index: number): Promise<void>;
  kill(index: number): Promise<void>;
  pause(index: number): void | Promise<void>;
  resume(index: number): void | Promise<void>;
  stopAll(): Promise<void>;
}

const PODMAN_SOCKET = "unix:///run/podman/podman.sock";

/**
 * Which mode to use: LOCK_TEST_SERVERS=process|container decides when set.
 * Otherwise containers when a container engine answers (DOCKER_HOST, else
 * podman's /run/podman/podman.sock) and holds the test image locally (or
 * LOCK_TEST_IMAGE names one explicitly, to be pulled); processes otherwise.
 */
export async function serverMode(): Promise<"process" | "container"> {
  const forced = process.env["LOCK_TEST_SERVERS"];
  if (forced === "process" || forced === "container") return forced;
  if (forced) throw new Error(`LOCK_TEST_SERVERS must be "process" or "container", not "${forced}"`);
  const host =
    process.env["DOCKER_HOST"] || ((await engineAnswers(PODMAN_SOCKET, "/_ping")) ? PODMAN_SOCKET : undefined);
  if (!host || !(await engineAnswers(host, "/_ping"))) return "process";
  const { testImage } = await import("./container-servers.ts");
  if (
    process.env["LOCK_TEST_IMAGE"] ||
    (await engineAnswers(host, `/images/${encodeURIComponent(testImage())}/json`))
  ) {
    process.env["DOCKER_HOST"] = host;
    return "container";
  }
  return "process";
}

/** Starts `count` instances in the mode serverMode() picks. */
export async function startServers(count: number, extraArgs: string[] = []): Promise<InstanceServers> {
  if ((await serverMode()) === "container") {
    const { ContainerServers } = await import("./container-servers.ts");
    return ContainerServers.start(count, extraArgs);
  }
  const servers = await RedisServers.start(count, extraArgs);
  return Object.assign(servers, { mode: "process" as const });
}

/** True when a Docker-API engine at `host` (unix:// or tcp://) answers `path` with 2xx within 2 s. */
function engineAnswers(host: string, path: string): Promise<boolean> {
  let target: { socketPath: string } | { host: string; port: number };
  if (host.startsWith("unix://")) target = { socketPath: host.slice("unix://".length) };
  else if (host.startsWith("tcp://")) {
    const url = new URL(host.replace(/^tcp:/, "http:"));
    target = { host: url.hostname, port: Number(url.port || 2375) };
  } else return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = request({ ...target, path, method: "GET", timeout: 2000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 300);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}
