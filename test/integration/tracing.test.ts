import { randomBytes } from "node:crypto";
import { ChannelCredentials, type Interceptor, InterceptingCall, type ServiceError, status } from "@grpc/grpc-js";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterEach, describe, expect, it } from "vitest";
import { LockClient } from "../../src/client/lock-client.ts";
import { Tracing } from "../../src/tracing/tracing.ts";
import { scrape } from "../support/prometheus-text.ts";
import { useCluster } from "../support/sidecar-cluster.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

/** A client that sends `traceparent` (and a tracestate) with every call, as an instrumented caller would. */
function tracedClient(address: string, traceparent: string): LockClient {
  const addContext: Interceptor = (options, next) =>
    new InterceptingCall(next(options), {
      start: (metadata, listener, start) => {
        metadata.set("traceparent", traceparent);
        metadata.set("tracestate", "caller=1");
        start(metadata, listener);
      },
    });
  return new LockClient(address, ChannelCredentials.createInsecure(), { interceptors: [addContext] });
}

const hex = (bytes: number): string => randomBytes(bytes).toString("hex");

/** Spans and instance calls over real gRPC and real redis-servers, recorded in memory. */
describe("tracing", () => {
  const cluster = useCluster();
  let exporter = new InMemorySpanExporter();
  const clients: LockClient[] = [];
  let tracing: Tracing | undefined;
  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    await tracing?.shutdown();
    tracing = undefined;
  });

  const start = async (options = {}) => {
    exporter = new InMemorySpanExporter();
    tracing = new Tracing({ spanProcessor: new SimpleSpanProcessor({ exporter }) });
    return cluster.start({ deps: { tracing }, options });
  };
  const client = (address: string, traceparent: string): LockClient => {
    const c = tracedClient(address, traceparent);
    clients.push(c);
    return c;
  };
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  const rpcSpan = (method: string): ReadableSpan => {
    const found = spans().filter((s) => s.name === `lock.v1.LockService/${method}`);
    expect(found).toHaveLength(1);
    return found[0]!;
  };
  const childrenOf = (parent: ReadableSpan): ReadableSpan[] =>
    spans().filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);

  it("files an Acquire under the caller's trace, with a span per instance call", async () => {
    const { running, servers } = await start();
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const c = client(running.sidecar.address, `00-${traceId}-${callerSpanId}-01`);
    const res = await c.acquire({ name: "traced", ttl: ms(5000), owner: "worker-7" });
    expect(res.acquired).toBe(true);
    await eventually(() => spans().some((s) => s.name === "lock.v1.LockService/Acquire"), 2000, "the RPC span");

    const rpc = rpcSpan("Acquire");
    expect(rpc.kind).toBe(SpanKind.SERVER);
    expect(rpc.spanContext().traceId).toBe(traceId);
    expect(rpc.parentSpanContext?.spanId).toBe(callerSpanId);
    expect(rpc.parentSpanContext?.isRemote).toBe(true);
    expect(rpc.spanContext().traceState?.get("caller")).toBe("1");
    expect(rpc.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "lock.v1.LockService",
      "rpc.method": "Acquire",
      "rpc.grpc.status_code": status.OK,
      "lock.name": "traced",
      "lock.owner": "worker-7",
      "lock.acquired": true,
    });
    expect(rpc.status.code).toBe(SpanStatusCode.UNSET);

    // One acquire per instance, each a client span in the same trace, named by its instance.
    const acquires = childrenOf(rpc).filter((s) => s.attributes["lock.instance.operation"] === "acquire");
    expect(acquires.map((s) => s.attributes["lock.instance.name"]).sort()).toEqual([...servers.urls].sort());
    for (const span of acquires) {
      expect(span.name).toBe("instance acquire");
      expect(span.kind).toBe(SpanKind.CLIENT);
      expect(span.spanContext().traceId).toBe(traceId);
      expect(span.attributes["lock.instance.outcome"]).toBe("ok");
      expect(span.attributes["lock.instance.granted"]).toBe(true);
    }

    // The lease id is the proof of ownership: no span carries it, nor its secret.
    const secret = res.lease!.leaseId.split(".")[0]!;
    for (const span of spans())
      for (const value of Object.values(span.attributes)) expect(String(value)).not.toContain(secret);
  });

  /** The outcome of the acquire `rpc` sent to `instance`. */
  const outcomeOf = (rpc: ReadableSpan, instance: string, among = spans()): unknown =>
    among.find(
      (s) =>
        s.parentSpanContext?.spanId === rpc.spanContext().spanId &&
        s.attributes["lock.instance.operation"] === "acquire" &&
        s.attributes["lock.instance.name"] === instance,
    )?.attributes["lock.instance.outcome"];

  it("says which instance timed out", async () => {
    const { running, servers } = await start();
    const c = client(running.sidecar.address, `00-${hex(16)}-${hex(8)}-01`);
    // A paused instance answers nothing: its span ends at the instance timeout.
    servers.pause(0);
    try {
      expect((await c.acquire({ name: "slow-one", ttl: ms(5000) })).acquired).toBe(true);
      await eventually(
        () => spans().some((s) => s.attributes["lock.instance.outcome"] === "timeout"),
        3000,
        "the timed-out instance span",
      );
    } finally {
      servers.resume(0);
    }
    const rpc = rpcSpan("Acquire");
    expect(outcomeOf(rpc, servers.urls[0]!)).toBe("timeout");
    expect(outcomeOf(rpc, servers.urls[1]!)).toBe("ok");
    const timedOut = childrenOf(rpc).find((s) => s.attributes["lock.instance.outcome"] === "timeout")!;
    expect(timedOut.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("says which instance failed or was withheld, and marks an unavailable call as an error", async () => {
    // No health probes meanwhile: only these calls count towards opening the circuit.
    const { running, servers } = await start({
      circuitFailures: 2,
      circuitProbeIntervalMs: 10,
      healthIntervalMs: 60_000,
    });
    const c = client(running.sidecar.address, `00-${hex(16)}-${hex(8)}-01`);
    /**
     * The last Acquire's span and what each instance answered it, once every
     * instance's span ended (a failure may come after the majority's grants).
     */
    const nextAcquire = async (): Promise<{ rpc: ReadableSpan; outcome(instance: string): unknown }> => {
      const acquires = (): number =>
        spans().filter((s) => s.attributes["lock.instance.operation"] === "acquire").length;
      await eventually(() => spans().some((s) => s.name.endsWith("/Acquire")) && acquires() === 3, 2000, "the spans");
      const rpc = rpcSpan("Acquire");
      const all = spans();
      exporter.reset();
      return { rpc, outcome: (instance) => outcomeOf(rpc, instance, all) };
    };

    // A killed instance fails its calls; once failures opened its circuit, calls to it are withheld unsent.
    await servers.kill(1);
    const seen: unknown[] = [];
    for (let i = 0; i < 10 && seen.at(-1) !== "withheld"; i++) {
      await c.acquire({ name: `one-down-${i}`, ttl: ms(5000) });
      seen.push((await nextAcquire()).outcome(servers.urls[1]!));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(seen[0]).toBe("failed");
    expect(seen.at(-1)).toBe("withheld");
    expect(new Set(seen)).toEqual(new Set(["failed", "withheld"]));
    // Health and metrics still see the guards under the tracing decorator.
    const circuit = { instance: servers.urls[1]! };
    expect((await scrape(running.sidecar.adminPort)).value("lock_instance_circuit_open", circuit)).toBe(1);

    // Without a majority the call fails UNAVAILABLE: the server's fault, so an error span.
    await servers.kill(2);
    const error = await c.acquire({ name: "two-down", ttl: ms(5000) }).then(
      () => undefined,
      (e: unknown) => e as ServiceError,
    );
    expect(error?.code).toBe(status.UNAVAILABLE);
    const failed = await nextAcquire();
    expect(failed.rpc.attributes["rpc.grpc.status_code"]).toBe(status.UNAVAILABLE);
    expect(failed.rpc.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.outcome(servers.urls[0]!)).toBe("ok");
    expect(failed.outcome(servers.urls[2]!)).toBe("failed");
  });

  it("leaves renewals out of the Hold that took the lease: they serve no one call", async () => {
    const { running } = await start();
    const c = client(running.sidecar.address, `00-${hex(16)}-${hex(8)}-01`);
    const hold = c.hold({ name: "held", ttl: ms(500) });
    let messages = 0;
    hold.on("data", () => messages++);
    hold.on("error", () => undefined);
    // The grant, then renewals every third of the TTL.
    await eventually(() => messages >= 4, 5000, "three renewals");
    hold.cancel();
    await eventually(() => spans().some((s) => s.name.endsWith("/Hold")), 2000, "the Hold span");

    // The owner's cancel is still told from a lost connection through the interceptor: the lease is released.
    await eventually(
      async () =>
        (await scrape(running.sidecar.adminPort)).value("lock_lease_held_seconds_count", { end: "released" }) === 1,
      2000,
      "the release",
    );
    const rpc = rpcSpan("Hold");
    expect(rpc.attributes["lock.acquired"]).toBe(true);
    expect(rpc.attributes["rpc.grpc.status_code"]).toBe(status.CANCELLED);
    // Taking the lock: its acquires, and fences raised where they lagged; no renewal.
    const operations = childrenOf(rpc).map((s) => s.attributes["lock.instance.operation"]);
    expect(operations.filter((o) => o === "acquire")).toHaveLength(3);
    expect(operations.filter((o) => o !== "acquire" && o !== "raise_fence")).toEqual([]);
    // Renewals run outside every call's context, so nothing files them anywhere.
    expect(spans().filter((s) => s.attributes["lock.instance.operation"] === "extend")).toEqual([]);
  });

  it("an Extend's own batch nests under it", async () => {
    const { running } = await start();
    const c = client(running.sidecar.address, `00-${hex(16)}-${hex(8)}-01`);
    const { lease } = await c.acquire({ name: "extended", ttl: ms(5000) });
    await c.extend({ name: "extended", leaseId: lease!.leaseId, ttl: ms(5000) });
    await eventually(() => spans().some((s) => s.name.endsWith("/Extend")), 2000, "the Extend span");
    const extends_ = childrenOf(rpcSpan("Extend"));
    expect(extends_).toHaveLength(3);
    for (const span of extends_) expect(span.attributes["lock.instance.operation"]).toBe("extend");
  });
});
