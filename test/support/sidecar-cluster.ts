import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { SidecarOptions } from "../../src/config/options.ts";
import type { SidecarDeps } from "../../src/sidecar.ts";
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
    await stopCluster(current, redis);
    current = undefined;
  });
  return {
    redis,
    start: async (setup = {}) => (current = await startCluster(setup, redis)),
  };
}

/**
 * For a describe block whose tests share one cluster: started before the
 * first test, stopped after the last. The getters fail outside the tests.
 */
export function useSharedCluster(setup: ClusterSetup = {}): Cluster & { redis: Redis[] } {
  const redis: Redis[] = [];
  let current: Cluster | undefined;
  beforeAll(async () => {
    current = await startCluster(setup, redis);
  });
  afterAll(async () => {
    await stopCluster(current, redis);
    current = undefined;
  });
  const started = (): Cluster => {
    if (!current) throw new Error("the shared cluster is only there while the block's tests run");
    return current;
  };
  return {
    redis,
    get running() {
      return started().running;
    },
    get servers() {
      return started().servers;
    },
    get prefix() {
      return started().prefix;
    },
  };
}

/** Starts instances and a sidecar on them; resolves once it serves, with a direct client per instance in `redis`. */
async function startCluster(setup: ClusterSetup, redis: Redis[]): Promise<Cluster> {
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
  const cluster = { running, servers, prefix: options.keyPrefix };
  try {
    await eventually(() => running.sidecar.health.serving, 5000, "quorum");
  } catch (error) {
    await stopCluster(cluster, []);
    throw error;
  }
  redis.push(...urls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }).on("error", () => undefined)));
  return cluster;
}

async function stopCluster(cluster: Cluster | undefined, redis: Redis[]): Promise<void> {
  await cluster?.running.stop();
  redis.splice(0).forEach((r) => r.disconnect());
  await cluster?.servers.stopAll();
}

/** Script calls an instance has run (EVALSHA and EVAL), from INFO commandstats. */
export async function scriptCalls(r: Redis): Promise<number> {
  const info = await r.info("commandstats");
  return [...info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[2]), 0);
}
