import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { useCluster } from "../support/sidecar-cluster.ts";
import { ms } from "../support/sidecar-fixture.ts";

interface OwnerEvent {
  acquired?: boolean;
  expiresAtMs?: number;
  ended?: number;
  details?: string;
  atMs?: number;
}

/** Starts the owner process and hands its events over as they come. */
function startOwner(
  address: string,
  name: string,
  ttlMs: number,
  mode = "",
): {
  child: ChildProcess;
  events: OwnerEvent[];
  next(test: (e: OwnerEvent) => boolean, timeoutMs: number): Promise<OwnerEvent>;
} {
  const child = spawn(process.execPath, ["test/support/keepalive-owner.ts", address, name, String(ttlMs), mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const events: OwnerEvent[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    events.push(JSON.parse(line) as OwnerEvent);
    for (const wake of waiters) wake();
  });
  const next = (test: (e: OwnerEvent) => boolean, timeoutMs: number): Promise<OwnerEvent> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = events.find(test);
        if (!found) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`owner: no such event within ${timeoutMs} ms; saw ${JSON.stringify(events)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { child, events, next };
}

describe("an owner frozen while it keeps its lease alive", () => {
  const cluster = useCluster();
  let owner: ChildProcess | undefined;

  afterEach(() => {
    owner?.kill("SIGCONT");
    owner?.kill("SIGKILL");
    owner = undefined;
  });

  it("keeps its lease until the last expires_at it was sent, though its connection is dropped long before", async () => {
    const TTL_MS = 6000;
    // Pings every 500 ms, 500 ms to answer: a frozen owner's connection goes after about 1 s.
    const { running } = await cluster.start({
      count: 3,
      options: { clientPingIntervalMs: 500, clientPingTimeoutMs: 500 },
    });
    const started = startOwner(running.sidecar.address, "frozen", TTL_MS);
    owner = started.child;
    await started.next((e) => e.acquired === true, 10_000);
    await started.next((e) => e.acquired === undefined && e.expiresAtMs !== undefined, 10_000);

    owner.kill("SIGSTOP");
    const frozenAtMs = Date.now();
    const next = await running.client.acquire(
      { name: "frozen", ttl: ms(1000), wait: ms(15_000) },
      { deadline: Date.now() + 20_000 },
    );
    const grantedAtMs = Date.now();
    expect(next.acquired).toBe(true);
    owner.kill("SIGCONT");
    const end = await started.next((e) => e.ended !== undefined, 10_000);

    // Everything the owner read, including renewals buffered while it was frozen.
    const told = started.events.filter((e) => e.ended === undefined).map((e) => e.expiresAtMs!);
    const lastToldMs = Math.max(...told);
    expect(grantedAtMs).toBeGreaterThanOrEqual(lastToldMs);
    // Not granted when the connection went (about a second in): the lease ran out.
    expect(grantedAtMs - frozenAtMs).toBeGreaterThan(TTL_MS / 2);
    // The stream ends with the status its own gRPC library gives a dropped connection: the lease is going.
    expect(end.ended).toBe(14);
    await running.client.release({ name: "frozen", leaseId: next.lease!.leaseId });
  }, 40_000);

  it("an owner that cancels its call and exits at once has asked: its lease is released, not left to run out", async () => {
    const { running } = await cluster.start({ count: 3 });
    const started = startOwner(running.sidecar.address, "quitter", 20_000, "cancel-and-exit");
    owner = started.child;
    await new Promise<void>((resolve) => started.child.once("exit", () => resolve()));
    expect(started.events.some((e) => e.acquired === true)).toBe(true);
    // Released within moments, far from its 20 s end.
    const next = await running.client.acquire({ name: "quitter", ttl: ms(1000), wait: ms(3000) });
    expect(next.acquired).toBe(true);
    await running.client.release({ name: "quitter", leaseId: next.lease!.leaseId });
  }, 30_000);
});
