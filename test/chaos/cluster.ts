import { Redis } from "ioredis";
import { HealthClient } from "../../src/client/health-client.ts";
import { RedisServers } from "../support/redis-servers.ts";
import type { KeyScan } from "./history.ts";
import { SidecarProcess } from "./sidecar-process.ts";
import { TcpProxy, type ProxyMode } from "./tcp-proxy.ts";

export interface ClusterOptions {
  instanceCount: number;
  sidecarCount: number;
  /** LOCK_* settings shared by every sidecar (LOCK_INSTANCES and LOCK_LISTEN are set here). */
  sidecarEnv: Record<string, string>;
}

/**
 * The system under test: redis-server instances (processes), one TCP proxy
 * per (sidecar, instance) link, and sidecar processes that reach every
 * instance through their own proxies, so a link can be faulted without
 * touching the instance or the other sidecars.
 */
export class ChaosCluster {
  readonly servers: RedisServers;
  /** proxies[sidecar][instance] */
  readonly proxies: TcpProxy[][];
  readonly sidecars: SidecarProcess[];
  readonly #dead = new Set<number>();
  readonly #paused = new Set<number>();

  private constructor(servers: RedisServers, proxies: TcpProxy[][], sidecars: SidecarProcess[]) {
    this.servers = servers;
    this.proxies = proxies;
    this.sidecars = sidecars;
  }

  static async start(options: ClusterOptions): Promise<ChaosCluster> {
    const servers = await RedisServers.start(options.instanceCount);
    const proxies: TcpProxy[][] = [];
    const sidecars: SidecarProcess[] = [];
    try {
      for (let s = 0; s < options.sidecarCount; s++)
        proxies.push(await Promise.all(servers.ports.map((port) => TcpProxy.start(port))));
      const started = await Promise.allSettled(
        proxies.map((links) =>
          SidecarProcess.start({
            ...options.sidecarEnv,
            LOCK_INSTANCES: links.map((p) => `redis://127.0.0.1:${p.port}`).join(","),
          }),
        ),
      );
      // Keep the ones that started, so that a failure of another stops them too.
      for (const s of started) if (s.status === "fulfilled") sidecars.push(s.value);
      const failed = started.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
    } catch (error) {
      await Promise.allSettled(sidecars.map((s) => s.kill()));
      await Promise.allSettled(proxies.flat().map((p) => p.close()));
      await servers.stopAll();
      throw error;
    }
    return new ChaosCluster(servers, proxies, sidecars);
  }

  get instanceCount(): number {
    return this.servers.ports.length;
  }

  get sidecarCount(): number {
    return this.sidecars.length;
  }

  instanceUp(instance: number): boolean {
    return !this.#dead.has(instance) && !this.#paused.has(instance);
  }

  async killInstance(instance: number): Promise<void> {
    this.#dead.add(instance);
    this.#paused.delete(instance);
    await this.servers.kill(instance);
  }

  /** Starts a killed instance again on its port, empty (no persistence). */
  async restartInstance(instance: number): Promise<void> {
    if (!this.#dead.has(instance)) return;
    await this.servers.startOne(instance);
    this.#dead.delete(instance);
  }

  pauseInstance(instance: number): void {
    if (this.#dead.has(instance)) return;
    this.servers.pause(instance);
    this.#paused.add(instance);
  }

  resumeInstance(instance: number): void {
    this.servers.resume(instance);
    this.#paused.delete(instance);
  }

  setLink(sidecar: number, instance: number, mode: ProxyMode): void {
    this.proxies[sidecar]![instance]!.setMode(mode);
  }

  link(sidecar: number, instance: number): ProxyMode {
    return this.proxies[sidecar]![instance]!.mode;
  }

  /** Waits until every sidecar reports SERVING (a majority of its instances answers and counts). */
  async waitServing(timeoutMs: number): Promise<void> {
    const until = performance.now() + timeoutMs;
    await Promise.all(
      this.sidecars.map(async (sidecar) => {
        const health = new HealthClient(sidecar.address);
        try {
          for (;;) {
            const state = await health.check("", { deadline: Date.now() + 2000 }).catch(() => "UNKNOWN");
            if (state === "SERVING") return;
            if (performance.now() > until)
              throw new Error(
                `sidecar ${sidecar.address} not SERVING after ${timeoutMs} ms (${state}): ${sidecar.outputTail()}`,
              );
            await new Promise((r) => setTimeout(r, 100));
          }
        } finally {
          health.close();
        }
      }),
    );
  }

  /** Undoes every fault: instances resumed or restarted, links passing, sidecars running. */
  async healAll(): Promise<void> {
    for (const sidecar of this.sidecars) sidecar.resume();
    for (const links of this.proxies)
      for (const proxy of links) if (proxy.mode.kind !== "pass") proxy.setMode({ kind: "pass" });
    for (const instance of [...this.#paused]) this.resumeInstance(instance);
    for (const instance of [...this.#dead]) await this.restartInstance(instance);
  }

  /** Every key under `prefix` on every instance, with its remaining TTL, read directly (not through proxies). */
  async scanKeys(prefix: string): Promise<KeyScan["keys"]> {
    const found: KeyScan["keys"] = [];
    for (let instance = 0; instance < this.instanceCount; instance++) {
      const redis = new Redis(this.servers.ports[instance]!, "127.0.0.1", {
        maxRetriesPerRequest: 2,
        lazyConnect: true,
      });
      redis.on("error", () => undefined);
      try {
        await redis.connect();
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(prefix)}*`, "COUNT", 1000);
          cursor = next;
          for (const key of keys) found.push({ instance, key, pttlMs: await redis.pttl(key) });
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
    }
    return found;
  }

  /** Stops the sidecars (SIGTERM: they release what they hold). */
  async stopSidecars(): Promise<void> {
    await Promise.allSettled(this.sidecars.map((s) => s.stop()));
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.sidecars.map((s) => s.stop(2000)));
    await Promise.allSettled(this.proxies.flat().map((p) => p.close()));
    for (let i = 0; i < this.instanceCount; i++) this.servers.resume(i);
    await this.servers.stopAll();
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
