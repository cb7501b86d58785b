import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import { LockClient } from "../../src/client/lock-client.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { ms } from "../support/sidecar-fixture.ts";

/**
 * A TCP relay between a client and the sidecar that can go silent, as a
 * client host that lost power or was cut off does: nothing is closed, no
 * byte crosses any more.
 */
class SilenceableRelay {
  readonly #server: Server;
  readonly #sockets: Socket[] = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: string): Promise<SilenceableRelay> {
    const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
    const server = createServer();
    const relay = new SilenceableRelay(server);
    server.on("connection", (client) => {
      const upstream = connect(port, host);
      relay.#sockets.push(client, upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("error", () => undefined);
      upstream.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return relay;
  }

  get address(): string {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("relay not listening");
    return `127.0.0.1:${address.port}`;
  }

  /** From now on nothing is forwarded either way, and nothing is closed. */
  silence(): void {
    for (const socket of this.#sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe("a client that vanishes without closing its connection", () => {
  const cluster = useCluster();
  let relay: SilenceableRelay | undefined;
  let vanishing: LockClient | undefined;

  afterEach(async () => {
    vanishing?.close();
    await relay?.close();
    vanishing = undefined;
    relay = undefined;
  });

  it("loses its KeepAlive stream once the connection stops answering pings, and the lease runs out at the end it was told", async () => {
    const { running } = await cluster.start({
      count: 3,
      options: { clientPingIntervalMs: 300, clientPingTimeoutMs: 300 },
    });
    relay = await SilenceableRelay.start(running.sidecar.address);
    vanishing = new LockClient(relay.address);
    const granted = await vanishing.acquire({ name: "vanishing", ttl: ms(1000) });
    expect(granted.acquired).toBe(true);
    const stream = vanishing.keepAlive({ name: "vanishing", leaseId: granted.lease!.leaseId, ttl: ms(1000) });
    stream.on("error", () => undefined);
    let lastToldMs = 0;
    stream.on("data", (message: KeepAliveResponse) => {
      const at = message.lease!.expiresAt!;
      lastToldMs = Math.max(lastToldMs, Number(at.seconds) * 1000 + Math.floor(at.nanos / 1e6));
    });
    await new Promise<KeepAliveResponse>((resolve) => stream.once("data", resolve));

    relay.silence();
    const startedMs = performance.now();
    // Without pings the sidecar would renew the lease for as long as TCP keeps the dead connection (minutes).
    const next = await running.client.acquire({ name: "vanishing", ttl: ms(1000), wait: ms(8000) });
    expect(next.acquired).toBe(true);
    // Noticed within a ping interval and timeout, then run out (one TTL), not at the end of the wait.
    expect(performance.now() - startedMs).toBeLessThan(6000);
    // Never before the last end the vanished owner was told: a dead connection is not its owner asking.
    expect(Date.now()).toBeGreaterThanOrEqual(lastToldMs);
    await running.client.release({ name: "vanishing", leaseId: next.lease!.leaseId });
  });
});
