import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * What the proxy does to traffic, switchable at run time:
 * - pass: forwards both ways at once;
 * - delay: holds every chunk `ms` in each direction (order kept);
 * - blackhole: accepts connections but forwards nothing, as a network
 *   partition looks to both ends: requests and replies stall. Leaving it
 *   for pass or delay delivers what stalled (the partition healed while the
 *   connections lived); leaving it for reset drops it with the connections.
 *   Bytes are never dropped from a connection that stays open: that would
 *   desynchronise the protocol, which real TCP never does;
 * - reset: destroys every connection (RST) and every new one at once;
 * - stall-on: passes traffic until a client sends bytes containing
 *   `pattern` (ASCII, case-insensitive, e.g. a command name), then stalls
 *   that connection's requests from that chunk on, as a blackhole would; a
 *   fault aimed at one step of a protocol exchange. Leaving the mode
 *   delivers what stalled;
 * - freeze: holds every byte both ways like a blackhole, as the kernel of a
 *   stopped (SIGSTOP) client holds what it was sent and what it had not
 *   sent yet. An end seen meanwhile is kept too: leaving the mode delivers
 *   what was held and then closes with a FIN, so the thawed client reads
 *   its buffered data before it sees the connection closed.
 */
export type ProxyMode =
  | { kind: "pass" }
  | { kind: "delay"; ms: number }
  | { kind: "blackhole" }
  | { kind: "reset" }
  | { kind: "stall-on"; pattern: string }
  | { kind: "freeze" };

/** Modes that hold bytes back: leaving one delivers them. */
function holds(kind: ProxyMode["kind"]): boolean {
  return kind === "blackhole" || kind === "freeze";
}

/** An in-process TCP proxy on 127.0.0.1:0 in front of one upstream port. */
export class TcpProxy {
  readonly #server: Server;
  readonly #upstreamPort: number;
  readonly #upstreamHost: string;
  readonly #connections = new Set<Connection>();
  #mode: ProxyMode = { kind: "pass" };
  #port = 0;
  #accepted = 0;

  private constructor(upstreamHost: string, upstreamPort: number) {
    this.#upstreamHost = upstreamHost;
    this.#upstreamPort = upstreamPort;
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
  }

  static async start(upstreamPort: number, upstreamHost = "127.0.0.1"): Promise<TcpProxy> {
    const proxy = new TcpProxy(upstreamHost, upstreamPort);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once("error", reject);
      proxy.#server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = proxy.#server.address();
    proxy.#port = typeof address === "object" && address ? address.port : 0;
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Connections accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  setMode(mode: ProxyMode): void {
    const previous = this.#mode;
    this.#mode = mode;
    if (mode.kind === "reset") {
      for (const c of this.#connections) c.destroy();
      return;
    }
    if (holds(previous.kind) || previous.kind === "delay" || previous.kind === "stall-on")
      for (const c of this.#connections) c.pump();
  }

  /** Destroys every open connection once, whatever the mode (a one-off reset). */
  resetConnections(): void {
    for (const c of this.#connections) c.destroy();
  }

  async close(): Promise<void> {
    for (const c of this.#connections) c.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.#accepted++;
    if (this.#mode.kind === "reset") {
      client.on("error", () => undefined);
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ port: this.#upstreamPort, host: this.#upstreamHost, noDelay: true });
    const connection = new Connection(
      client,
      upstream,
      () => this.#mode,
      () => this.#connections.delete(connection),
    );
    this.#connections.add(connection);
  }
}

/** One proxied connection: two one-way pipes that share its fate. */
class Connection {
  readonly #toUpstream: Pipe;
  readonly #toClient: Pipe;
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #mode: () => ProxyMode;
  readonly #onGone: () => void;
  #gone = false;
  /**
   * An end closed while the connection was held: close once it no longer is.
   * After a blackhole with a reset (the partition's far end is long gone);
   * after a freeze with a FIN (the stopped client's kernel had received one).
   */
  #closePending: "reset" | "end" | undefined;

  constructor(client: Socket, upstream: Socket, mode: () => ProxyMode, onGone: () => void) {
    this.#client = client;
    this.#upstream = upstream;
    this.#mode = mode;
    this.#onGone = onGone;
    this.#toUpstream = new Pipe(client, upstream, mode, true);
    this.#toClient = new Pipe(upstream, client, mode, false);
    for (const socket of [client, upstream]) {
      socket.on("error", () => this.#endSeen());
      socket.on("close", () => this.#endSeen());
    }
  }

  pump(): void {
    this.#toUpstream.pump();
    this.#toClient.pump();
    if (this.#closePending === undefined || holds(this.#mode().kind)) return;
    if (this.#closePending === "reset") {
      this.destroy();
      return;
    }
    // end() sends the bytes just written first; the peer's own close then destroys the rest.
    this.#closePending = undefined;
    for (const socket of [this.#client, this.#upstream]) if (!socket.destroyed) socket.end();
  }

  destroy(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#toUpstream.clear();
    this.#toClient.clear();
    for (const socket of [this.#client, this.#upstream]) {
      // RST, as a peer that went away does; a socket without a live handle is just destroyed.
      if (!socket.destroyed && !socket.connecting) socket.resetAndDestroy();
      if (!socket.destroyed) socket.destroy();
    }
    this.#onGone();
  }

  #endSeen(): void {
    // Seen from the other side of a partition or by a stopped process, nothing happened yet.
    const kind = this.#mode().kind;
    if (kind === "blackhole") this.#closePending = "reset";
    else if (kind === "freeze") this.#closePending = "end";
    else this.destroy();
  }
}

/** Bytes from one socket to another, held back by the mode's delay or stall. */
class Pipe {
  readonly #to: Socket;
  readonly #mode: () => ProxyMode;
  readonly #queue: { dueAt: number; chunk: Buffer }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastDueAt = 0;
  /** stall-on matched: held from the matching chunk on while the mode lasts. */
  #stalled = false;

  constructor(from: Socket, to: Socket, mode: () => ProxyMode, requests: boolean) {
    this.#to = to;
    this.#mode = mode;
    from.on("data", (chunk: Buffer) => {
      const m = mode();
      if (m.kind === "reset") return;
      if (m.kind === "stall-on" && requests && chunk.toString("latin1").toLowerCase().includes(m.pattern.toLowerCase()))
        this.#stalled = true;
      const now = performance.now();
      // Never before an earlier chunk: a shorter delay must not reorder bytes.
      const dueAt = Math.max(now + (m.kind === "delay" ? m.ms : 0), this.#lastDueAt);
      this.#lastDueAt = dueAt;
      this.#queue.push({ dueAt, chunk });
      this.pump();
    });
  }

  pump(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const kind = this.#mode().kind;
    if (kind !== "stall-on") this.#stalled = false;
    if (holds(kind) || kind === "reset" || this.#stalled) return;
    const now = performance.now();
    while (this.#queue.length > 0 && this.#queue[0]!.dueAt <= now) {
      const { chunk } = this.#queue.shift()!;
      // While the upstream is still connecting, net buffers the write.
      if (!this.#to.destroyed) this.#to.write(chunk);
    }
    const next = this.#queue[0];
    if (next) this.#timer = setTimeout(() => this.pump(), Math.max(0, next.dueAt - now));
  }

  clear(): void {
    this.#queue.length = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
