import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { TcpProxy } from "./tcp-proxy.ts";

/** The fault proxy in front of a line echo server on loopback. */
describe("TcpProxy", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function echoServer(): Promise<{ server: Server; port: number }> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => {
      sockets.forEach((s) => s.destroy());
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const address = server.address();
    return { server, port: typeof address === "object" && address ? address.port : 0 };
  }

  async function proxyTo(port: number): Promise<TcpProxy> {
    const proxy = await TcpProxy.start(port);
    cleanups.push(() => proxy.close());
    return proxy;
  }

  /** A client that collects what comes back and notes when its connection ends. */
  async function client(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    cleanups.push(() => void socket.destroy());
    return { socket, received: () => text, closed };
  }

  async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (!check()) {
      if (performance.now() > end) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("passes traffic both ways", async () => {
    const { port } = await echoServer();
    const proxy = await proxyTo(port);
    const c = await client(proxy.port);
    c.socket.write("hello");
    await until(() => c.received() === "hello");
    expect(proxy.connections).toBe(1);
  });

  it("delays each direction, keeping the byte order when the delay shrinks", async () => {
    const { port } = await echoServer();
    const proxy = await proxyTo(port);
    const c = await client(proxy.port);
    proxy.setMode({ kind: "delay", ms: 60 });
    const started = performance.now();
    c.socket.write("a");
    await sleep(5);
    proxy.setMode({ kind: "pass" });
    c.socket.write("b");
    await until(() => c.received() === "ab");
    // Out through the delay and back (the reply was sent after the switch: no delay).
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it("stalls traffic in a blackhole and delivers it when the partition heals", async () => {
    const { port } = await echoServer();
    const proxy = await proxyTo(port);
    const c = await client(proxy.port);
    proxy.setMode({ kind: "blackhole" });
    c.socket.write("lost?");
    const late = await client(proxy.port);
    late.socket.write("new");
    await sleep(100);
    expect(c.received()).toBe("");
    expect(late.received()).toBe("");
    proxy.setMode({ kind: "pass" });
    await until(() => c.received() === "lost?" && late.received() === "new");
  });

  it("drops stalled traffic with its connections when a blackhole ends in a reset", async () => {
    const { port } = await echoServer();
    const proxy = await proxyTo(port);
    const c = await client(proxy.port);
    proxy.setMode({ kind: "blackhole" });
    c.socket.write("gone");
    await sleep(20);
    proxy.setMode({ kind: "reset" });
    await c.closed;
    expect(c.received()).toBe("");
    // New connections are refused with a reset while the mode lasts...
    const refused = connect(proxy.port, "127.0.0.1");
    refused.on("error", () => undefined);
    await new Promise<void>((resolve) => refused.once("close", () => resolve()));
    // ...and work again afterwards.
    proxy.setMode({ kind: "pass" });
    const again = await client(proxy.port);
    again.socket.write("back");
    await until(() => again.received() === "back");
  });

  it("stalls a connection's requests from the first one that matches a pattern", async () => {
    const { port } = await echoServer();
    const proxy = await proxyTo(port);
    const c = await client(proxy.port);
    proxy.setMode({ kind: "stall-on", pattern: "SUBSCRIBE" });
    c.socket.write("info;");
    await until(() => c.received() === "info;");
    c.socket.write("subscribe x;");
    await sleep(20);
    c.socket.write("ping;");
    await sleep(80);
    expect(c.received()).toBe("info;");
    // Other connections are untouched until they send the pattern themselves.
    const other = await client(proxy.port);
    other.socket.write("ping;");
    await until(() => other.received() === "ping;");
    proxy.setMode({ kind: "pass" });
    await until(() => c.received() === "info;subscribe x;ping;");
  });

  it("freezes a client: holds both ways, then delivers what was held and the server's close, in that order", async () => {
    // A server that speaks first and closes on its own, as the sidecar does to a client whose pings went unanswered.
    const accepted: Socket[] = [];
    const server = createServer((socket) => {
      accepted.push(socket);
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const address = server.address();
    const proxy = await proxyTo(typeof address === "object" && address ? address.port : 0);
    const c = await client(proxy.port);
    let clean: boolean | undefined;
    c.socket.on("close", (hadError) => (clean = !hadError));
    await until(() => accepted.length === 1);
    proxy.setMode({ kind: "freeze" });
    c.socket.write("ack?");
    accepted[0]!.end("renewal 1;renewal 2;");
    await sleep(100);
    expect(c.received()).toBe("");
    expect(clean).toBeUndefined();
    proxy.setMode({ kind: "pass" });
    await c.closed;
    expect(c.received()).toBe("renewal 1;renewal 2;");
    expect(clean).toBe(true);
  });

  it("closes the client side when the upstream goes away, or cannot be reached", async () => {
    const { port } = await echoServer();
    const proxy = await proxyTo(port);
    const c = await client(proxy.port);
    c.socket.write("x");
    await until(() => c.received() === "x");
    proxy.resetConnections();
    await c.closed;
    await cleanups.shift()!(); // the echo server is gone
    const orphan = await client(proxy.port);
    await orphan.closed;
    expect(proxy.connections).toBe(0);
  });
});
