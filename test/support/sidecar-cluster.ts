import { Redis } from "ioredis";
import { afterEach } from "vitest";
import type { SidecarOptions } from "../../src/config/options.ts";
import type { SidecarDeps } from "../../src/server/sidecar.ts";
import { RedisServers } from "./redis-servers.ts";
import { eventually, runSidecar, testOptions, type Running } from "./sidecar-fixture.ts";

export interface ClusterSetup {
  /** Instances to start (3 by default). */
  count?: number;
  /** Extra redis-server arguments (for example --requirepass). */
  serverArgs?: string[];
  /** The URLs the sidecar uses (default: the servers' plain URLs). */
  urls?: (servers: RedisServers) => string[];
  options?: Partial<SidecarOptions>;
  deps?: SidecarDeps;
}

export interface Cluster {
  running: Running;
  servers: RedisServers;
  prefix: string;
}

/**
 * For a describe block whose tests each start their own instances and
 * sidecar: `start` returns them once the sidecar serves; `redis` holds a
 * direct client per instance; everything is stopped after each test.
 */
export function useCluster(): { redis: Redis[]; start(setup?: ClusterSetup): Promise<Cluster> } {
  const redis: Redis[] = [];
  let current: Cluster | undefined;
  afterEach(async () => {
    await current?.running.stop();
    redis.splice(0).forEach((r) => r.disconnect());
    await current?.servers.stopAll();
    current = undefined;
  });
  return {
    redis,
    start: async (setup = {}) => {
      const servers = await RedisServers.start(setup.count ?? 3, setup.serverArgs ?? []);
      const urls = setup.urls?.(servers) ?? servers.urls;
      const options = testOptions({ instances: urls, ...setup.options });
      let running: Running;
      try {
        running = await runSidecar(options, setup.deps);
      } catch (error) {
        await servers.stopAll();
        throw error;
      }
      current = { running, servers, prefix: options.keyPrefix };
      await eventually(() => running.sidecar.health.serving, 5000, "quorum");
      redis.push(...urls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }).on("error", () => undefined)));
      return current;
    },
  };
}
